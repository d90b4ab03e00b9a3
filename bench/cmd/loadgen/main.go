// Command loadgen sends HTTP/1.1 GET requests at a fixed rate over
// keep-alive connections and prints one JSON line with the latency
// quantiles, measured from each request's due time (see package
// openloop). bench/proxy runs it for the open-loop part of the proxy
// benchmark; it can also be run by hand:
//
//	loadgen -url http://127.0.0.1:8000/ -rate 20000 -connections 64 -duration 10s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gantry-gw/gantry/bench/internal/openloop"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	target := fs.String("url", "", "target URL, http://host:port/path")
	host := fs.String("host", "", "Host header (default: the URL's host)")
	var c openloop.Config
	fs.Float64Var(&c.Rate, "rate", 1000, "requests per second, over all connections")
	fs.IntVar(&c.Connections, "connections", 64, "keep-alive connections")
	fs.DurationVar(&c.Warmup, "warmup", time.Second, "unrecorded run at the same rate before the measurement")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured window")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintf(os.Stderr, "loadgen: -url must be http://host:port/path (got %q)\n", *target)
		return 2
	}
	c.Addr = u.Host
	if u.Port() == "" {
		c.Addr = u.Host + ":80"
	}
	c.Path = u.RequestURI()
	c.Host = *host
	if c.Host == "" {
		c.Host = u.Host
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := openloop.Run(ctx, c)
	if errors.Is(err, openloop.ErrConfig) {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	line, jerr := json.Marshal(res)
	if jerr != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", jerr)
		return 1
	}
	fmt.Println(string(line))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: interrupted:", err)
		return 1
	}
	return 0
}
