package invoker

import "github.com/gustfaas/gust/internal/whisk"

// feedBuffer is how many records a subscriber may fall behind before the
// oldest are dropped for it. A watcher is a person or a dashboard: losing a
// record under a burst is acceptable, slowing the record writer is not.
const feedBuffer = 256

type subscriber struct {
	namespace string // "" = every namespace
	ch        chan *whisk.Activation
}

// Subscribe returns a channel that receives every activation record of
// namespace ("" for all namespaces) once it is committed to the store, so
// that a reader who sees a record can also list and get it. The records are
// shared: receivers must not modify them. A subscriber that does not keep up
// loses its oldest records; the writer never waits for it. The channel is
// closed by cancel and when the Recorder closes; cancel may be called more
// than once.
func (r *Recorder) Subscribe(namespace string) (<-chan *whisk.Activation, func()) {
	s := &subscriber{namespace: namespace, ch: make(chan *whisk.Activation, feedBuffer)}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.subsClosed {
		close(s.ch)
		return s.ch, func() {}
	}
	if r.subs == nil {
		r.subs = make(map[*subscriber]struct{})
	}
	r.subs[s] = struct{}{}
	return s.ch, func() {
		r.subMu.Lock()
		defer r.subMu.Unlock()
		if _, ok := r.subs[s]; ok {
			delete(r.subs, s)
			close(s.ch)
		}
	}
}

// publish hands committed records to the subscribers. Only the writer loop
// sends, under subMu, so a drop makes room that no other sender can take.
func (r *Recorder) publish(acts []*whisk.Activation) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for s := range r.subs {
		for _, a := range acts {
			if s.namespace != "" && s.namespace != a.Namespace {
				continue
			}
			select {
			case s.ch <- a:
				continue
			default:
			}
			select {
			case <-s.ch: // drop the oldest
			default:
			}
			select {
			case s.ch <- a:
			default:
			}
		}
	}
}

// closeSubscribers ends every subscription: no record follows the last batch.
func (r *Recorder) closeSubscribers() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.subsClosed = true
	for s := range r.subs {
		close(s.ch)
	}
	r.subs = nil
}
