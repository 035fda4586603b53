// Package api serves OpenWhisk's REST API v1 (spec §1–§4), health endpoints
// and Prometheus metrics over a controller.Controller.
//
// Handlers return errors; Server.writeError alone turns them into statuses
// and OpenWhisk's {"error","code"} body. Every response carries X-Request-ID,
// the transaction id (adopted from the request when it has one).
package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// Config tunes the HTTP layer. Semantic limits (payload, code, parameters)
// belong to the controller.
type Config struct {
	// MaxEntityBytes bounds any request body (OpenWhisk: 50 MiB).
	MaxEntityBytes int64
	// Description and SupportURL appear in GET /.
	Description string
	SupportURL  string
}

// DefaultConfig returns OpenWhisk's HTTP limits.
func DefaultConfig() Config {
	return Config{
		MaxEntityBytes: 50 << 20,
		Description:    "Gust, an OpenWhisk-compatible serverless platform",
		SupportURL:     "https://github.com/gustfaas/gust/issues",
	}
}

// BuildInfo identifies the running build (GET /api/v1: build, buildno).
type BuildInfo struct {
	Date    string // "build"
	Version string // "buildno"
}

// Deps are the server's collaborators.
type Deps struct {
	Controller *controller.Controller
	// Gatherer serves /metrics; nil leaves /metrics out.
	Gatherer prometheus.Gatherer
	// Metrics receives the HTTP request series; may be nil.
	Metrics prometheus.Registerer
	// Ready answers /readyz; nil means the controller's store Ping.
	Ready  func(context.Context) error
	Build  BuildInfo
	Logger *slog.Logger
}

// Server is the API's http.Handler.
type Server struct {
	cfg   Config
	ctl   *controller.Controller
	deps  Deps
	log   *slog.Logger
	mux   *http.ServeMux
	met   *httpMetrics
	ready func(context.Context) error

	streams         streamHub     // open activation streams; see stream.go
	maxPayload      int64         // invoke bodies
	maxBlockingWait time.Duration // the default and largest ?timeout
}

// New builds the server and its routes. Zero fields of cfg take their
// DefaultConfig values.
func New(cfg Config, deps Deps) *Server {
	def := DefaultConfig()
	if cfg.MaxEntityBytes <= 0 {
		cfg.MaxEntityBytes = def.MaxEntityBytes
	}
	if cfg.Description == "" {
		cfg.Description = def.Description
	}
	if cfg.SupportURL == "" {
		cfg.SupportURL = def.SupportURL
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, ctl: deps.Controller, deps: deps, log: deps.Logger, mux: http.NewServeMux()}
	s.maxPayload = int64(s.ctl.Config().MaxPayloadBytes)
	s.maxBlockingWait = s.ctl.Config().MaxBlockingWait
	s.ready = deps.Ready
	if s.ready == nil {
		s.ready = s.ctl.Ping
	}
	met, err := newHTTPMetrics(deps.Metrics)
	if err != nil {
		s.log.Error("http metrics not registered", "err", err)
	}
	s.met = met
	s.routes()
	return s
}

func (s *Server) routes() {
	m := s.mux
	handle := func(pattern string, h handler) { m.Handle(pattern, h) }

	// No authentication.
	handle("/{$}", s.public(http.MethodGet, s.getRoot))
	handle("/api/v1", s.public(http.MethodGet, s.getAPIInfo))
	handle("/api/v1/{$}", s.public(http.MethodGet, s.getAPIInfo))
	handle("/api/v1/api-docs", s.public(http.MethodGet, s.getAPIDocs))
	handle("/api/v1/api-docs/{$}", s.public(http.MethodGet, s.getAPIDocs))
	handle("/ping", s.public(http.MethodGet, s.getPing))
	handle("/healthz", s.public(http.MethodGet, s.getHealth))
	handle("/readyz", s.public(http.MethodGet, s.getReady))
	if s.deps.Gatherer != nil {
		handle("/metrics", s.metricsHandler())
	}

	// Authenticated.
	handle("/api/v1/namespaces", s.authed(http.MethodGet, s.listNamespaces))
	handle("/api/v1/namespaces/{$}", s.authed(http.MethodGet, s.listNamespaces))
	handle("/api/v1/namespaces/{ns}/limits", s.authed(http.MethodGet, s.getLimits))
	handle("/api/v1/namespaces/{ns}/limits/{$}", s.authed(http.MethodGet, s.getLimits))

	handle("/api/v1/namespaces/{ns}/actions", s.authed(http.MethodGet, s.listActions))
	handle("/api/v1/namespaces/{ns}/actions/{$}", s.authed(http.MethodGet, s.listActions))
	handle("/api/v1/namespaces/{ns}/actions/{pkg}/{$}", s.authed(http.MethodGet, s.listActions))
	actionMethods := http.MethodGet + "," + http.MethodPut + "," + http.MethodDelete + "," + http.MethodPost
	handle("/api/v1/namespaces/{ns}/actions/{name}", s.authed(actionMethods, s.action))
	handle("/api/v1/namespaces/{ns}/actions/{pkg}/{name}", s.authed(actionMethods, s.action))

	handle("/api/v1/namespaces/{ns}/activations", s.authed(http.MethodGet, s.listActivations))
	handle("/api/v1/namespaces/{ns}/activations/{$}", s.authed(http.MethodGet, s.listActivations))
	handle("/api/v1/namespaces/{ns}/activations/stream", s.authed(http.MethodGet, s.streamActivations))
	handle("/api/v1/namespaces/{ns}/activations/{id}", s.authed(http.MethodGet, s.getActivation))
	handle("/api/v1/namespaces/{ns}/activations/{id}/{$}", s.authed(http.MethodGet, s.getActivation))
	handle("/api/v1/namespaces/{ns}/activations/{id}/result", s.authed(http.MethodGet, s.getActivationResult))
	handle("/api/v1/namespaces/{ns}/activations/{id}/logs", s.authed(http.MethodGet, s.getActivationLogs))

	handle("/api/v1/namespaces/{ns}/packages", s.authed(http.MethodGet, s.listPackages))
	handle("/api/v1/namespaces/{ns}/packages/{$}", s.authed(http.MethodGet, s.listPackages))
	handle("/api/v1/namespaces/{ns}/packages/{name}", s.authed(http.MethodGet+","+http.MethodPut+","+http.MethodDelete, s.pkg))

	entityMethods := http.MethodGet + "," + http.MethodPut + "," + http.MethodDelete + "," + http.MethodPost
	handle("/api/v1/namespaces/{ns}/triggers", s.authed(http.MethodGet, s.listTriggers))
	handle("/api/v1/namespaces/{ns}/triggers/{$}", s.authed(http.MethodGet, s.listTriggers))
	handle("/api/v1/namespaces/{ns}/triggers/{name}", s.authed(entityMethods, s.trigger))
	handle("/api/v1/namespaces/{ns}/rules", s.authed(http.MethodGet, s.listRules))
	handle("/api/v1/namespaces/{ns}/rules/{$}", s.authed(http.MethodGet, s.listRules))
	handle("/api/v1/namespaces/{ns}/rules/{name}", s.authed(entityMethods, s.rule))

	// Web actions and API gateway routes: authentication is optional there.
	handle("/api/v1/web/{path...}", s.serveWeb)
	handle("/api/{ns}/{path...}", s.serveAPIRoute)

	handle("/", s.public("", func(*responseWriter, *http.Request) error { return whisk.NotFound() }))
}

// ServeHTTP assigns the transaction id, sets the headers every response
// carries, answers CORS preflights and logs one line per request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w, tid: transactionID(r), status: http.StatusOK}
	defer s.recoverPanic(rw, r)
	h := w.Header()
	h.Set("X-Request-ID", rw.tid)
	// Web actions answer CORS themselves (they may even let the action do it).
	if strings.HasPrefix(r.URL.Path, "/api/v1") && !strings.HasPrefix(r.URL.Path, "/api/v1/web/") {
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, DELETE, POST, PUT, HEAD")
		h.Set("Access-Control-Allow-Headers", "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent")
		if r.Method == http.MethodOptions {
			h.Set("Content-Type", "text/plain; charset=UTF-8")
			rw.WriteHeader(http.StatusOK)
			_, _ = rw.Write([]byte("OK"))
			s.finish(rw, r, start)
			return
		}
	}
	s.mux.ServeHTTP(rw, r)
	s.finish(rw, r, start)
}

// recoverPanic turns a handler's panic into a logged 500 with the error
// body, where net/http would only drop the connection.
func (s *Server) recoverPanic(rw *responseWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	s.log.Error("handler panicked", "tid", rw.tid, "method", r.Method, "path", r.URL.Path,
		"panic", v, "stack", string(debug.Stack()))
	if !rw.wrote {
		s.writeError(rw, r, &whisk.Error{Code: whisk.CodeInternal, Err: fmt.Errorf("panic: %v", v)})
	}
}

func (s *Server) finish(rw *responseWriter, r *http.Request, start time.Time) {
	elapsed := time.Since(start)
	route := r.Pattern
	if route == "" {
		route = "other"
	}
	s.met.observe(route, r.Method, rw.status, elapsed)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.Debug("request", "tid", rw.tid, "method", r.Method, "path", r.URL.Path,
			"status", rw.status, "bytes", rw.bytes, "duration", elapsed)
	}
}

// transactionID adopts the caller's X-Request-ID when it is sane, else makes
// a new 32-character id.
func transactionID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); id != "" && len(id) <= 128 && printable(id) {
		return id
	}
	var b [16]byte
	a, c := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// responseWriter records what the middleware logs and carries the
// transaction id to the handlers.
type responseWriter struct {
	http.ResponseWriter
	tid    string
	status int
	bytes  int
	wrote  bool
}

func (rw *responseWriter) WriteHeader(status int) {
	if !rw.wrote {
		rw.status, rw.wrote = status, true
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *responseWriter) Write(b []byte) (int, error) {
	rw.wrote = true
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// request is what an authenticated handler gets besides the HTTP request.
type request struct {
	id     whisk.Identity
	apiKey string // "uuid:secret" as presented
}

// handler adapts the server's handler shapes to http.Handler.
type handler func(w http.ResponseWriter, r *http.Request)

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h(w, r) }

// public wraps a handler that needs no authentication. methods lists the
// allowed methods ("" = any); others get 405 with the error body.
func (s *Server) public(methods string, fn func(*responseWriter, *http.Request) error) handler {
	return func(w http.ResponseWriter, r *http.Request) {
		rw := w.(*responseWriter)
		if err := checkMethod(methods, r); err != nil {
			s.writeError(rw, r, err)
			return
		}
		if err := fn(rw, r); err != nil {
			s.writeError(rw, r, err)
		}
	}
}

// authed wraps a handler that needs an API key.
func (s *Server) authed(methods string, fn func(*responseWriter, *http.Request, *request) error) handler {
	return func(w http.ResponseWriter, r *http.Request) {
		rw := w.(*responseWriter)
		req, err := s.authenticate(r)
		if err == nil {
			err = checkMethod(methods, r)
		}
		if err == nil {
			err = fn(rw, r, req)
		}
		if err != nil {
			s.writeError(rw, r, err)
		}
	}
}

func checkMethod(methods string, r *http.Request) error {
	if methods == "" {
		return nil
	}
	for m := range strings.SplitSeq(methods, ",") {
		if r.Method == m || r.Method == http.MethodHead && m == http.MethodGet {
			return nil
		}
	}
	return whisk.Errorf(whisk.CodeNotAllowed, "HTTP method not allowed, supported methods: %s", strings.ReplaceAll(methods, ",", ", "))
}

// authenticate reads HTTP Basic credentials and asks the controller whose
// they are.
func (s *Server) authenticate(r *http.Request) (*request, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		if r.Header.Get("Authorization") == "" {
			return nil, &whisk.Error{Code: whisk.CodeUnauthorized, Message: whisk.MsgMissingAuth}
		}
		return nil, &whisk.Error{Code: whisk.CodeUnauthorized, Message: whisk.MsgUnauthenticated}
	}
	id, err := s.ctl.Authenticate(r.Context(), user, pass)
	if err != nil {
		return nil, err
	}
	return &request{id: id, apiKey: user + ":" + pass}, nil
}

// namespace resolves the {ns} path segment: "_" is the caller's namespace.
// Whether the caller may use another namespace is the controller's call.
func namespace(r *http.Request, req *request) (string, error) {
	ns := r.PathValue("ns")
	if ns == whisk.SelfNamespace {
		return req.id.Namespace, nil
	}
	if !whisk.ValidName(ns) {
		return "", whisk.BadRequest(controller.MsgNamespaceIllegal)
	}
	return ns, nil
}

// entityName validates a name path segment.
func entityName(s string) error {
	if len(s) > whisk.MaxNameLength {
		return whisk.BadRequest("%s", controller.NameTooLong(len(s)))
	}
	return whisk.CheckName(s)
}
