package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gustfaas/gust/internal/client"
	"github.com/gustfaas/gust/internal/whisk"
)

// watchSpec says which activations `activation poll` and `activation logs
// --follow` follow and what they do with each.
type watchSpec struct {
	name  string // "action" or "pkg/action"; "" = all
	since int64  // epoch ms: show the records started since then first; 0 = only new ones
	after string // the id of a record already shown: show what followed it
	show  func(act *whisk.Activation, raw []byte) error
	// ready, when set, runs once the watch is in place: what is stored
	// from then on will be shown.
	ready func()
}

// Retry delays of a broken stream and the polling interval of the list
// fallback (wsk polls every 2 s).
var (
	watchRetryMin = 500 * time.Millisecond
	watchRetryMax = 10 * time.Second
	pollInterval  = 2 * time.Second
)

// watchActivations shows new activation records as they are stored until ctx
// ends, reading Gust's activation stream and reconnecting when it breaks. On
// a server without the stream (OpenWhisk) it polls the list as wsk does.
func (a *app) watchActivations(ctx context.Context, c *client.Client, w watchSpec) error {
	seen := newSeenSet()
	if w.after != "" {
		seen.add(w.after, w.since)
	}
	ready := func() {
		if w.ready != nil {
			w.ready()
			w.ready = nil
		}
	}
	retry := watchRetryMin
	for attempt := 0; ; attempt++ {
		s, err := c.StreamActivations(ctx, client.StreamOptions{Name: w.name, Since: w.since, LastEventID: w.after})
		switch {
		case errors.Is(err, client.ErrStreamUnsupported):
			if a.g.debug {
				fmt.Fprintf(a.stderr, "%v; polling the activation list instead\n", err)
			}
			ready()
			return a.pollActivations(ctx, c, w, seen)
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && attempt == 0:
			return failed(err, nil, "unable to watch activations")
		case err != nil:
			fmt.Fprintf(a.stderr, "warning: reconnecting to the activation stream: %v\n", err)
		default:
			ready()
			for {
				act, raw, err := s.Next()
				if err != nil {
					break
				}
				retry = watchRetryMin
				w.after, w.since = act.ActivationID, max(w.since, act.Start)
				if !seen.add(act.ActivationID, act.Start) {
					continue
				}
				if err := w.show(act, raw); err != nil {
					s.Close()
					return err
				}
			}
			s.Close()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintln(a.stderr, "warning: the activation stream ended; reconnecting")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
		retry = min(2*retry, watchRetryMax)
	}
}

// pollActivations is wsk's `activation poll`: list the records started since
// the newest one seen, every two seconds.
func (a *app) pollActivations(ctx context.Context, c *client.Client, w watchSpec, seen *seenSet) error {
	since := w.since
	if since == 0 {
		since = time.Now().UnixMilli()
		if acts, err := c.ListActivations(ctx, client.ActivationListOptions{Name: w.name, Limit: 1}); err == nil && len(acts) > 0 {
			since = acts[0].Start + 1
		}
	}
	for {
		acts, err := c.ListActivations(ctx, client.ActivationListOptions{Name: w.name, Since: since, Limit: 0, Docs: true})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(a.stderr, "warning: %v\n", err)
		}
		// Oldest first, so that logs read in the order things happened.
		for i := len(acts) - 1; i >= 0; i-- {
			act := &acts[i]
			since = max(since, act.Start)
			if !seen.add(act.ActivationID, act.Start) {
				continue
			}
			raw, err := json.Marshal(act)
			if err != nil {
				return err
			}
			if err := w.show(act, raw); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// seenSet remembers the records shown, so that a record listed twice at the
// edge of a window, or replayed after a reconnection, is shown once. Entries
// well older than the newest are forgotten: the set stays small on a poll
// that runs for days.
type seenSet struct {
	ids    map[string]int64 // id → start
	newest int64
}

func newSeenSet() *seenSet { return &seenSet{ids: map[string]int64{}} }

// add reports whether id is new.
func (s *seenSet) add(id string, start int64) bool {
	if _, ok := s.ids[id]; ok {
		return false
	}
	s.ids[id] = start
	if start > s.newest {
		s.newest = start
		if len(s.ids) > 1024 {
			for k, t := range s.ids {
				if t < s.newest-10*time.Minute.Milliseconds() {
					delete(s.ids, k)
				}
			}
		}
	}
	return true
}

// finishedWatching turns the end of a watch into the command's result: its
// --exit time running out is success.
func finishedWatching(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// activationNameFilter turns an action name argument into the list API's
// name filter: "action" or "pkg/action" (records are listed by the key's
// namespace, so a namespace in the argument selects nothing more).
func activationNameFilter(c *client.Client, arg string) (string, error) {
	n, err := c.ParseName(arg)
	if err != nil {
		return "", err
	}
	if n.Package != "" {
		return n.Package + "/" + n.Name, nil
	}
	return n.Name, nil
}

// recordNameFilter is the name filter that selects the activations of the
// action act is a record of.
func recordNameFilter(act *whisk.Activation) string {
	if b, ok := act.Annotations.GetString("binding"); ok {
		if _, pkg, ok := strings.Cut(b, "/"); ok && pkg != "" {
			return pkg + "/" + act.Name
		}
	}
	if p, ok := act.Annotations.GetString("path"); ok {
		if parts := strings.Split(p, "/"); len(parts) == 3 && parts[1] != "" {
			return parts[1] + "/" + act.Name
		}
	}
	return act.Name
}

// streamRecord prints one record of a stream: one compact JSON line for -o
// json (a reader can act on each as it comes), a YAML document for -o yaml,
// else what human writes.
func (a *app) streamRecord(raw []byte, human func(w io.Writer)) error {
	switch a.g.output {
	case "json":
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := a.stdout.Write(buf.Bytes())
		return err
	case "yaml":
		if _, err := io.WriteString(a.stdout, "---\n"); err != nil {
			return err
		}
		return writeYAML(a.stdout, raw)
	}
	human(a.stdout)
	return nil
}
