package invoker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustfaas/gust/internal/whisk"
)

type metrics struct {
	starts    *prometheus.CounterVec
	durations *prometheus.HistogramVec
	creates   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, inv *Invoker) *metrics {
	m := &metrics{
		starts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gust_invoker_starts_total",
			Help: "Activations by how their sandbox was obtained: warm, stem (prewarmed) or cold.",
		}, []string{"start"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gust_invoker_activation_duration_seconds",
			Help:    "Activation duration (init included) by kind and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind", "status"}),
		// The sandbox's own share of a cold start, which the activation's
		// initTime lumps together with the runtime's start and the code's init.
		creates: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gust_invoker_sandbox_create_seconds",
			Help:    "Time the sandbox driver took to create a sandbox, until its runtime process was started, by kind.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"kind"}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.starts, m.durations, m.creates)
	gauge := func(name, help string, f func(Stats) int) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(inv.Stats())) }))
	}
	gauge("gust_invoker_sandboxes_warm", "Idle warm sandboxes.", func(s Stats) int { return s.Warm })
	gauge("gust_invoker_stem_cells", "Prewarmed sandboxes waiting for code.", func(s Stats) int { return s.StemCells })
	gauge("gust_invoker_activations_running", "Activations in progress.", func(s Stats) int { return s.Busy })
	gauge("gust_invoker_memory_used_mb", "Memory reserved by sandboxes.", func(s Stats) int { return s.UsedMemoryMB })
	gauge("gust_invoker_memory_mb", "Memory available to sandboxes.", func(s Stats) int { return s.UserMemoryMB })
	return m
}

func (m *metrics) observe(msg *whisk.ActivationMessage, act *whisk.Activation) {
	m.durations.WithLabelValues(msg.Action.Exec.Kind, act.Response.Status).
		Observe(float64(act.Duration) / 1000)
}
