package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// GET /api/v1/namespaces/{ns}/activations/stream is Gust's own addition to
// API v1 (OpenWhisk has only the list to poll): Server-Sent Events, one
// "activation" event per record of the namespace as soon as it is stored,
// with the record's extended JSON (logs included) as data and its id as the
// event id. "stream" cannot be an activation id (those are 32 hex digits),
// so the path shadows nothing.
//
// Query: name (as the list's: "action" or "pkg/action"), since (epoch ms:
// replay the stored records started since then, at most 200, before the live
// ones), keepalive (seconds between comment lines, 1..300, default 15: proxies
// close connections that stay silent). A Last-Event-ID header (an
// EventSource reconnecting) replays what followed that record.

const (
	defaultKeepAlive = 15 * time.Second
	maxKeepAlive     = 300
)

// streamHub ends open streams when the server shuts down: http.Server's
// Shutdown waits for connections to go idle, which a stream never does.
type streamHub struct {
	mu   sync.Mutex
	done chan struct{}
}

func (h *streamHub) closing() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	return h.done
}

// CloseStreams ends every activation stream, now and for good; wire it to
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	h := &s.streams
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done == nil {
		h.done = make(chan struct{})
	}
	select {
	case <-h.done:
	default:
		close(h.done)
	}
}

func (s *Server) streamActivations(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var wq controller.WatchQuery
	if wq.Name, err = nameFilter(q); err != nil {
		return err
	}
	if wq.Since, err = epochParam(q, "since"); err != nil {
		return err
	}
	keepAlive := defaultKeepAlive
	if q.Has("keepalive") {
		n, err := strconv.Atoi(q.Get("keepalive"))
		if err != nil || n < 1 || n > maxKeepAlive {
			return controller.MalformedQuery("keepalive",
				fmt.Sprintf("Keepalive must be a number of seconds from 1 to %d.", maxKeepAlive))
		}
		keepAlive = time.Duration(n) * time.Second
	}
	wq.After = r.Header.Get("Last-Event-ID")
	ctx := r.Context()
	watch, err := s.ctl.WatchActivations(ctx, req.id, ns, wq)
	if err != nil {
		return err
	}
	defer watch.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold events back
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	rc := http.NewResponseController(w)
	var buf []byte
	send := func(act *whisk.Activation) error {
		buf = append(buf[:0], "event: activation\nid: "...)
		buf = append(buf, act.ActivationID...)
		buf = append(buf, "\ndata: "...)
		buf = appendEventData(buf, encodeActivation(nil, act))
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return err
		}
		return rc.Flush()
	}
	// The opening comment reaches the client at once: it knows the
	// subscription is in place before any record it causes is stored.
	if _, err := fmt.Fprintf(w, ": activations of %s\nretry: 2000\n\n", ns); err != nil {
		return nil
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	for _, act := range watch.Replay {
		if send(act) != nil {
			return nil
		}
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	closing := s.streams.closing()
	for {
		select {
		case act, ok := <-watch.Live:
			if !ok {
				return nil
			}
			if send(act) != nil {
				return nil
			}
		case <-tick.C:
			if _, err := w.Write([]byte(": keepalive\n\n")); err != nil {
				return nil
			}
			if rc.Flush() != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-closing:
			return nil
		}
	}
}

// appendEventData appends a JSON document as one data line: a newline
// inside it would end the field, so such a document is compacted first
// (newlines inside JSON strings are always escaped).
func appendEventData(dst, doc []byte) []byte {
	if bytes.IndexByte(doc, '\n') < 0 && bytes.IndexByte(doc, '\r') < 0 {
		return append(dst, doc...)
	}
	var c bytes.Buffer
	if json.Compact(&c, doc) != nil {
		return append(dst, bytes.ReplaceAll(bytes.ReplaceAll(doc, []byte("\r"), nil), []byte("\n"), nil)...)
	}
	return append(dst, c.Bytes()...)
}
