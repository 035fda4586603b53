package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustfaas/gust/internal/whisk"
)

// metrics are the controller's Prometheus series. The action label is the
// executed action's path ("ns/pkg/name"): it exists only for actions that
// were found, so callers cannot grow the label set with made-up names.
type metrics struct {
	invocations *prometheus.CounterVec   // namespace, action, status
	duration    *prometheus.HistogramVec // namespace, action
	throttledBy *prometheus.CounterVec   // namespace, reason
}

// Status label values of gust_invocations_total.
const (
	statusAccepted = "accepted" // non-blocking, or blocking past its wait
)

var statusLabels = [...]string{
	whisk.StatusSuccess:          "success",
	whisk.StatusApplicationError: "application_error",
	whisk.StatusDeveloperError:   "developer_error",
	whisk.StatusInternalError:    "internal_error",
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gust_invocations_total",
			Help: "Action invocations by namespace, action and outcome (accepted = answered 202).",
		}, []string{"namespace", "action", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gust_invocation_duration_seconds",
			Help:    "Time from the controller receiving a blocking invocation to its activation record.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"namespace", "action"}),
		throttledBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gust_invocations_throttled_total",
			Help: "Invocations refused with 429, by namespace and limit (rate or concurrency).",
		}, []string{"namespace", "reason"}),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.invocations, m.duration, m.throttledBy} {
			if err := reg.Register(col); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// actionMetrics are one action's resolved series, kept with its cache entry
// so that the hot path does not hash label values.
type actionMetrics struct {
	byStatus [len(statusLabels)]prometheus.Counter
	accepted prometheus.Counter
	duration prometheus.Observer
}

func (m *metrics) forAction(ns, action string) *actionMetrics {
	am := &actionMetrics{
		accepted: m.invocations.WithLabelValues(ns, action, statusAccepted),
		duration: m.duration.WithLabelValues(ns, action),
	}
	for code, label := range statusLabels {
		am.byStatus[code] = m.invocations.WithLabelValues(ns, action, label)
	}
	return am
}

func (am *actionMetrics) observe(act *whisk.Activation, elapsed time.Duration) {
	code := act.Response.StatusCode
	if code < 0 || int(code) >= len(am.byStatus) {
		code = whisk.StatusInternalError
	}
	am.byStatus[code].Inc()
	am.duration.Observe(elapsed.Seconds())
}

// actionMetrics returns the series of the resolved action for the caller:
// cached on the action's entry when the caller owns it, the common case.
func (c *Controller) actionMetrics(id whisk.Identity, r resolvedAction) *actionMetrics {
	action := r.fqn.PathName()
	if r.fqn.Namespace != id.Namespace {
		return c.met.forAction(id.Namespace, action)
	}
	e := r.entry
	e.metOnce.Do(func() { e.met = c.met.forAction(id.Namespace, action) })
	return e.met
}
