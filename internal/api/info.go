package api

import (
	_ "embed"
	"net/http"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/whisk"
)

//go:embed swagger.json
var swaggerDoc []byte

// rootInfo is GET / (OpenWhisk's controller info): durations in ms, memory
// and log sizes in bytes.
type rootInfo struct {
	Description string                     `json:"description"`
	Support     map[string]string          `json:"support"`
	APIPaths    []string                   `json:"api_paths"`
	Limits      map[string]int64           `json:"limits"`
	Runtimes    map[string][]runtimes.Info `json:"runtimes"`
}

func (s *Server) getRoot(w *responseWriter, r *http.Request) error {
	cfg := s.ctl.Config()
	mb := func(n int) int64 { return int64(n) << 20 }
	perMinute, concurrent, fires := cfg.InvocationsPerMinute, cfg.ConcurrentInvocations, cfg.FiresPerMinute
	rt := s.ctl.Runtimes()
	if rt == nil {
		rt = map[string][]runtimes.Info{}
	}
	return writeJSON(w, http.StatusOK, rootInfo{
		Description: s.cfg.Description,
		Support:     map[string]string{"github": s.cfg.SupportURL},
		APIPaths:    []string{"/api/v1"},
		Limits: map[string]int64{
			"actions_per_minute":          int64(perMinute),
			"triggers_per_minute":         int64(fires),
			"concurrent_actions":          int64(concurrent),
			"sequence_length":             int64(cfg.SequenceMaxLength),
			"min_action_duration":         int64(cfg.TimeoutMS.Min),
			"max_action_duration":         int64(cfg.TimeoutMS.Max),
			"min_action_memory":           mb(cfg.MemoryMB.Min),
			"max_action_memory":           mb(cfg.MemoryMB.Max),
			"min_action_logs":             mb(cfg.LogsMB.Min),
			"max_action_logs":             mb(cfg.LogsMB.Max),
			"default_min_action_duration": int64(cfg.TimeoutMS.Min),
			"default_max_action_duration": int64(cfg.TimeoutMS.Max),
			"default_min_action_memory":   mb(cfg.MemoryMB.Min),
			"default_max_action_memory":   mb(cfg.MemoryMB.Max),
			"default_min_action_logs":     mb(cfg.LogsMB.Min),
			"default_max_action_logs":     mb(cfg.LogsMB.Max),
		},
		Runtimes: rt,
	})
}

// apiInfo is GET /api/v1; `wsk property get` reads build and buildno.
type apiInfo struct {
	Description    string            `json:"description"`
	APIVersion     string            `json:"api_version"`
	APIVersionPath string            `json:"api_version_path"`
	Build          string            `json:"build"`
	BuildNo        string            `json:"buildno"`
	SwaggerPaths   map[string]string `json:"swagger_paths"`
}

func (s *Server) getAPIInfo(w *responseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, apiInfo{
		Description:    "OpenWhisk API",
		APIVersion:     "1.0.0",
		APIVersionPath: "v1",
		Build:          s.deps.Build.Date,
		BuildNo:        s.deps.Build.Version,
		SwaggerPaths:   map[string]string{"ui": "/docs", "api-docs": "/api-docs"},
	})
}

func (s *Server) getAPIDocs(w *responseWriter, r *http.Request) error {
	writeRawJSON(w, http.StatusOK, swaggerDoc)
	return nil
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

func (s *Server) getPing(w *responseWriter, r *http.Request) error {
	writeText(w, http.StatusOK, "pong")
	return nil
}

// getHealth is liveness: the process answers.
func (s *Server) getHealth(w *responseWriter, r *http.Request) error {
	writeText(w, http.StatusOK, "ok")
	return nil
}

// getReady is readiness: the store (and whatever the wiring adds) can serve.
func (s *Server) getReady(w *responseWriter, r *http.Request) error {
	if err := s.ready(r.Context()); err != nil {
		return unavailable(err)
	}
	writeText(w, http.StatusOK, "ok")
	return nil
}

func unavailable(err error) error {
	return &whisk.Error{Code: whisk.CodeUnavailable, Err: err}
}

func (s *Server) listNamespaces(w *responseWriter, r *http.Request, req *request) error {
	return writeJSON(w, http.StatusOK, []string{req.id.Namespace})
}

func (s *Server) getLimits(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	limits, err := s.ctl.Limits(req.id, ns)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, limits)
}
