// Command echoserver is the demo's upstream: a TLS server on loopback that
// answers every request with the request as it arrived (method, URI, headers,
// body) as JSON, and writes its own CA certificate to a file so the proxy can
// verify it (--upstream-ca). Development and demo use only; the server is
// internal/testupstream.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sidekey/sidekey/internal/cli"
	"github.com/sidekey/sidekey/internal/testupstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9443", "loopback address to serve TLS on")
	caOut := flag.String("ca-out", "echo-ca.crt", "where to write the certificate that signs the server's")
	logOut := flag.String("log", "", "also append each received request as one JSON line to this file")
	flag.Parse()
	cli.Run("echoserver", func(ctx context.Context) error { return run(ctx, *listen, *caOut, *logOut) })
}

func run(ctx context.Context, listen, caOut, logOut string) error {
	var log io.Writer
	if logOut != "" {
		f, err := os.OpenFile(logOut, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		defer func() { _ = f.Close() }()
		log = f
	}
	srv, err := testupstream.New(listen, testupstream.Options{Log: log, MaxBody: 1 << 20})
	if err != nil {
		return err
	}
	if err := os.WriteFile(caOut, srv.CAPEM(), 0o600); err != nil {
		_ = srv.Close()
		return fmt.Errorf("write CA: %w", err)
	}
	fmt.Printf("echoserver: serving %s\n", srv.URL())
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
