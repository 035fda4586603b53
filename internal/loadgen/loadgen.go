// Package loadgen drives a request function at a fixed concurrency (closed
// loop) or at a fixed rate (open loop) and reports throughput and latency
// percentiles.
//
// A closed loop answers "how much can it do": each of N workers sends its
// next request when the previous one is answered, so a slow server is sent
// less. That is also why its latencies flatter a server that stalls — the
// stall delays the requests that would have seen it (coordinated omission).
// An open loop answers "how does it feel at this load": requests are due at
// fixed times whatever happens, and each latency is measured from the time
// its request was due, so a stall is charged to every request it delayed,
// including those that waited for a free worker.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Func sends one request and returns when it was answered; an error counts
// the request as failed.
type Func func(ctx context.Context) error

// Config describes one run.
type Config struct {
	// Concurrency is the number of workers: the closed loop's requests in
	// flight, or the open loop's most requests in flight (requests due while
	// all are busy wait for one, and the wait counts in their latency).
	// Default 1 for a closed loop, 512 for an open loop.
	Concurrency int
	// Rate > 0 makes an open loop of this many requests per second.
	Rate float64
	// Duration is how long requests are sent and measured.
	Duration time.Duration
	// Requests, when > 0, ends the run after this many measured requests
	// (whichever of Duration and Requests comes first; 0 Duration = no limit).
	Requests int
	// Warmup runs the same load before measuring and discards it: warm
	// pools, keep-alive connections, a scaled-up server.
	Warmup time.Duration
}

// Result is what a run measured. Failed requests count in Errors and not in
// Latency or Throughput.
type Result struct {
	Requests   int           // measured requests, failed ones included
	Errors     int           // requests whose Func returned an error
	FirstError error         // the first of them
	Elapsed    time.Duration // the measured window
	Throughput float64       // successful requests per second
	Latency    Histogram
	// Late counts open-loop requests sent more than a millisecond after
	// they were due because every worker was busy: the server (or the
	// generator) could not keep up with Rate.
	Late int
}

// Summary digests Latency in milliseconds.
func (r *Result) Summary() Summary { return r.Latency.Summary() }

// String reads like "1234 req/s, p50 0.41 ms, p99 1.20 ms, max 3.1 ms (0 errors)".
func (r *Result) String() string {
	s := r.Latency.Summary()
	return fmt.Sprintf("%.0f req/s, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms (%d requests, %d errors)",
		r.Throughput, s.P50, s.P90, s.P99, s.Max, r.Requests, r.Errors)
}

// Run drives fn as cfg says. It returns an error only for a bad Config or
// when ctx ends before the run does; failures of fn are in the Result.
func Run(ctx context.Context, cfg Config, fn Func) (*Result, error) {
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		return nil, errors.New("loadgen: Duration or Requests must be set")
	}
	if cfg.Rate < 0 || cfg.Concurrency < 0 || cfg.Warmup < 0 {
		return nil, errors.New("loadgen: negative Rate, Concurrency or Warmup")
	}
	if cfg.Warmup > 0 {
		warm := cfg
		warm.Warmup, warm.Duration, warm.Requests = 0, cfg.Warmup, 0
		if _, err := Run(ctx, warm, fn); err != nil {
			return nil, err
		}
	}
	var res *Result
	if cfg.Rate > 0 {
		res = openLoop(ctx, cfg, fn)
	} else {
		res = closedLoop(ctx, cfg, fn)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Requests-res.Errors) / res.Elapsed.Seconds()
	}
	return res, nil
}

// worker is one goroutine's share of a result, merged at the end so that
// recording takes no lock.
type worker struct {
	lat      Histogram
	requests int
	errors   int
	firstErr error
	late     int
}

func (w *worker) done(err error, latency time.Duration) {
	w.requests++
	if err != nil {
		w.errors++
		if w.firstErr == nil {
			w.firstErr = err
		}
		return
	}
	w.lat.Record(latency)
}

func merge(workers []*worker, elapsed time.Duration) *Result {
	res := &Result{Elapsed: elapsed}
	for _, w := range workers {
		res.Latency.Merge(&w.lat)
		res.Requests += w.requests
		res.Errors += w.errors
		res.Late += w.late
		if res.FirstError == nil {
			res.FirstError = w.firstErr
		}
	}
	return res
}

// budget hands out at most n tickets (n <= 0: unlimited).
type budget struct {
	mu   sync.Mutex
	left int
	on   bool
}

func newBudget(n int) *budget { return &budget{left: n, on: n > 0} }

func (b *budget) take() bool {
	if !b.on {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left == 0 {
		return false
	}
	b.left--
	return true
}

// closedLoop stops sending at the end of the window and waits for the
// requests in flight: cutting them off would drop the slowest from the
// tail, and a server would see cancelled requests it may have served.
func closedLoop(ctx context.Context, cfg Config, fn Func) *Result {
	n := max(cfg.Concurrency, 1)
	window, cancel := deadline(ctx, cfg.Duration)
	defer cancel()
	tickets := newBudget(cfg.Requests)
	workers := make([]*worker, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for window.Err() == nil && tickets.take() {
				t := time.Now()
				err := fn(ctx)
				if ctx.Err() != nil {
					return // the run was cancelled, not the request failed
				}
				w.done(err, time.Since(t))
			}
		}()
	}
	wg.Wait()
	return merge(workers, time.Since(start))
}

// openLoop sends requests at their due times, start + i/Rate, through a
// bounded set of workers. The dispatcher does not sleep per request (timers
// are too coarse for thousands per second): it wakes, hands out every request
// due by now with its due time, and sleeps until the next one is due.
func openLoop(ctx context.Context, cfg Config, fn Func) *Result {
	n := cfg.Concurrency
	if n <= 0 {
		n = 512
	}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	if interval <= 0 {
		interval = 1
	}
	runCtx, cancel := deadline(ctx, cfg.Duration)
	defer cancel()
	// Requests in flight at the end of the sending window are waited for
	// (fn bounds its own time): cutting them off would drop exactly the slow
	// ones from the tail.
	callCtx, cancelCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCalls()

	due := make(chan time.Time, n)
	workers := make([]*worker, n)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range due {
				if time.Since(at) > time.Millisecond {
					w.late++
				}
				err := fn(callCtx)
				w.done(err, time.Since(at))
			}
		}()
	}

	start := time.Now()
	sent := 0
	var timer *time.Timer
dispatch:
	for {
		now := time.Now()
		for {
			next := start.Add(time.Duration(sent) * interval)
			if next.After(now) {
				break
			}
			if cfg.Requests > 0 && sent >= cfg.Requests {
				break dispatch
			}
			select {
			case due <- next:
				sent++
			case <-runCtx.Done():
				break dispatch
			}
		}
		wait := time.Until(start.Add(time.Duration(sent) * interval))
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-timer.C:
		case <-runCtx.Done():
			break dispatch
		}
	}
	if timer != nil {
		timer.Stop()
	}
	sending := time.Since(start)
	close(due)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		cancelCalls()
		<-finished
	}
	// Throughput is over the sending window: the rate the server sustained
	// while being sent Rate, not diluted by the tail of the last requests.
	return merge(workers, sending)
}

func deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
