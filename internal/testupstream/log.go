package testupstream

import (
	"io"
	"log"
)

// quietLog drops the server's own error lines: tests make handshakes fail
// and connections reset on purpose.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
