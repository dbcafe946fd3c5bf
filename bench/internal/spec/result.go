package spec

// Result is one JSON line of the benchmark.
type Result struct {
	Case    string `json:"case"`
	Round   int    `json:"round"`
	Mode    string `json:"mode"`
	Route   string `json:"route"`
	Conns   int    `json:"conns"`
	Streams int    `json:"streams,omitempty"`
	// Sender is "raw" (pre-built bytes) or "nethttp" (net/http.Transport);
	// TargetRate is the fixed request rate of a rate-limited run (0: closed loop).
	Sender     string  `json:"sender,omitempty"`
	TargetRate float64 `json:"target_rate,omitempty"`
	Window     float64 `json:"window_s"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Reopened   int64   `json:"reopened"`
	RPS        float64 `json:"rps"`
	P50us      float64 `json:"p50_us"`
	P90us      float64 `json:"p90_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`

	ProxyCPU       float64 `json:"proxy_cpu_s"`
	UpstreamCPU    float64 `json:"upstream_cpu_s"`
	LoadgenCPU     float64 `json:"loadgen_cpu_s"`
	MachineBusyPct float64 `json:"machine_busy_pct"`
	// ProxyCtxSwitches counts the context switches (voluntary and not) of
	// the proxy's threads over the window: its thread wake-ups.
	ProxyCtxSwitches int64 `json:"proxy_ctx_switches,omitempty"`
	// LoadAvg1 is the machine's 1-minute load average at the end of the window.
	LoadAvg1       float64 `json:"loadavg1,omitempty"`
	ReqPerProxyCPU float64 `json:"req_per_proxy_cpu_s"`

	RSSStartKiB int64   `json:"rss_start_kib"`
	RSSEndKiB   int64   `json:"rss_end_kib"`
	RSSMaxKiB   int64   `json:"rss_max_kib"`
	RSSSamples  []int64 `json:"rss_samples_kib,omitempty"`
	RSSEverySec float64 `json:"rss_every_s,omitempty"`
	ProxyFDs    int     `json:"proxy_fds,omitempty"`

	Upstream   UpstreamStats `json:"upstream"`
	FirstError string        `json:"first_error,omitempty"`
	Failed     string        `json:"failed,omitempty"`
}

// UpstreamStats are the upstream's verification counters, served on its
// control listener (GET /stats).
type UpstreamStats struct {
	Requests     int64 `json:"requests"`
	Verified     int64 `json:"verified"`
	Mismatched   int64 `json:"mismatched"`
	Placeholders int64 `json:"placeholders"`
	Leaked       int64 `json:"leaked_proxy_headers"`
	Conns        int64 `json:"connections"`
}
