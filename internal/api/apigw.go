package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// The API gateway (spec §10). The three /whisk.system/apimgmt web actions
// that wsk and the npm client call are served natively here, and the routes
// they create are served by Gust itself under /api/{namespace}/{basePath}.

// serveAPIManagement answers web/whisk.system/apimgmt/{createApi,getApi,
// deleteApi}: web actions whose __ow_user is the authenticated caller.
func (s *Server) serveAPIManagement(rw *responseWriter, r *http.Request, t webTarget) {
	setWebCORS(rw.Header(), r)
	if r.Method == http.MethodOptions {
		rw.WriteHeader(http.StatusOK)
		return
	}
	op := t.fqn.Name
	if op != "createApi" && op != "getApi" && op != "deleteApi" {
		s.writeWebError(rw, r, whisk.NotFound())
		return
	}
	body, err := s.readBody(rw, r, s.cfg.MaxEntityBytes)
	if err != nil {
		s.writeWebError(rw, r, err)
		return
	}
	args, err := apiMgmtArgs(r, body)
	if err != nil {
		s.writeWebError(rw, r, err)
		return
	}
	caller := s.webCaller(r)
	var out any
	switch op {
	case "createApi":
		out, err = s.createAPI(r, caller, args)
	case "getApi":
		out, err = s.getAPIs(r, caller, args)
	default:
		out, err = s.deleteAPI(r, caller, args)
	}
	var apiErr *controller.APIError
	switch {
	case errors.As(err, &apiErr):
		// OpenWhisk's actions answer 502 with {"error": ...}: an action's
		// application error, which the Go client reads as such.
		_ = writeJSON(rw, http.StatusBadGateway, map[string]string{"error": apiErr.Message})
	case err != nil:
		s.writeWebError(rw, r, err)
	default:
		_ = writeJSON(rw, http.StatusOK, out)
	}
}

// apiMgmtArgs are the query parameters overlaid by a JSON body's fields.
func apiMgmtArgs(r *http.Request, body []byte) (map[string]json.RawMessage, error) {
	args := map[string]json.RawMessage{}
	for k, vs := range r.URL.Query() {
		b, _ := json.Marshal(vs[len(vs)-1])
		args[k] = b
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, controller.Malformed(decodeDetail(err))
		}
		for k, v := range m {
			args[k] = v
		}
	}
	return args, nil
}

func argString(args map[string]json.RawMessage, name string) string {
	var s string
	if json.Unmarshal(args[name], &s) == nil {
		return s
	}
	if v := args[name]; len(v) > 0 && string(v) != "null" {
		return string(v)
	}
	return ""
}

// publicBase is the URL under which clients reach this server, from the
// request as it arrived (a proxy's X-Forwarded-* winning).
func publicBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = strings.TrimSpace(strings.Split(h, ",")[0])
	}
	return scheme + "://" + host
}

// apiValue is an API as wsk and the npm client read it (RetApi).
type apiValue struct {
	Namespace string          `json:"namespace"`
	BaseURL   string          `json:"gwApiUrl"`
	Activated bool            `json:"gwApiActivated"`
	TenantID  string          `json:"tenantId"`
	Swagger   json.RawMessage `json:"apidoc"`
}

// apiItem is an element of getApi's {"apis": [...]}.
type apiItem struct {
	ID    string   `json:"id"`
	Key   string   `json:"key"`
	Value apiValue `json:"value"`
}

func valueOf(r *http.Request, a *controller.API) apiValue {
	base := publicBase(r) + "/api/" + a.Namespace
	if a.BasePath != "/" {
		base += a.BasePath
	}
	return apiValue{Namespace: a.Namespace, BaseURL: base, Activated: true, TenantID: a.Namespace, Swagger: a.Swagger}
}

func (s *Server) createAPI(r *http.Request, caller *request, args map[string]json.RawMessage) (any, error) {
	if caller == nil {
		return nil, &controller.APIError{Message: "A valid auth key is required."}
	}
	raw, ok := args["apidoc"]
	if !ok || string(raw) == "null" {
		return nil, &controller.APIError{Message: "apidoc is required."}
	}
	var s2 string
	if json.Unmarshal(raw, &s2) == nil {
		raw = json.RawMessage(s2)
		if !json.Valid(raw) {
			return nil, &controller.APIError{Message: "apidoc field cannot be parsed. Ensure it is valid JSON."}
		}
	}
	doc := new(controller.APIDoc)
	if err := json.Unmarshal(raw, doc); err != nil {
		return nil, &controller.APIError{Message: "apidoc field cannot be parsed. Ensure it is valid JSON."}
	}
	api, err := s.ctl.CreateAPI(r.Context(), caller.id, doc, argString(args, "responsetype"), publicBase(r))
	if err != nil {
		return nil, err
	}
	return valueOf(r, api), nil
}

func (s *Server) getAPIs(r *http.Request, caller *request, args map[string]json.RawMessage) (any, error) {
	if caller == nil {
		return nil, &controller.APIError{Message: "Invalid authentication."}
	}
	apis, err := s.ctl.ListAPIs(r.Context(), caller.id, argString(args, "basepath"))
	if err != nil {
		return nil, err
	}
	skip, _ := strconv.Atoi(argString(args, "skip"))
	limit, _ := strconv.Atoi(argString(args, "limit"))
	if skip > 0 {
		apis = apis[min(skip, len(apis)):]
	}
	if limit > 0 && limit < len(apis) {
		apis = apis[:limit]
	}
	items := make([]apiItem, 0, len(apis))
	for _, a := range apis {
		items = append(items, apiItem{ID: "API:" + a.Namespace + ":" + a.BasePath, Key: a.Namespace, Value: valueOf(r, a)})
	}
	return map[string]any{"apis": items}, nil
}

func (s *Server) deleteAPI(r *http.Request, caller *request, args map[string]json.RawMessage) (any, error) {
	if caller == nil {
		return nil, &controller.APIError{Message: "__ow_user is required."}
	}
	err := s.ctl.DeleteAPI(r.Context(), caller.id, argString(args, "basepath"), argString(args, "relpath"), argString(args, "operation"))
	if err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

// serveAPIRoute answers /api/{namespace}/{path...}: the operation of the
// namespace's APIs that matches runs its web action, which sees the whole
// path in __ow_path and the path's {param} values as parameters.
func (s *Server) serveAPIRoute(w http.ResponseWriter, r *http.Request) {
	rw := w.(*responseWriter)
	ns := r.PathValue("ns")
	escaped := strings.TrimPrefix(r.URL.EscapedPath(), "/api/")
	if i := strings.IndexByte(escaped, '/'); i >= 0 {
		escaped = escaped[i:]
	} else {
		escaped = "/"
	}
	route, err := s.ctl.MatchRoute(r.Context(), ns, r.Method, "/"+r.PathValue("path"))
	if err != nil {
		s.writeWebError(rw, r, err)
		return
	}
	if route.SecureKey != "" {
		// The gateway holds the secret of a secured web action, as
		// OpenWhisk's API gateway does: callers of the API need none.
		r.Header.Set(headerRequireWhiskAuth, route.SecureKey)
	}
	t := webTarget{fqn: route.Action, ext: route.Extension, owPath: escaped, params: route.Params}
	if err := s.serveWebAction(rw, r, t); err != nil {
		s.writeWebError(rw, r, err)
	}
}
