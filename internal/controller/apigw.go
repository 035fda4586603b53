package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// API gateway (spec §10). OpenWhisk's /whisk.system/apimgmt actions keep
// APIs in an external gateway; Gust keeps them in its store, one document
// per namespace and base path holding the API's OpenAPI 2.0 (swagger)
// document, and serves the routes itself: method + base path + path (with
// {param} segments) → a web action.

// apisCollection holds API documents. Their names are base paths, which
// start with "/" where no entity name can, so they never meet an entity.
const apisCollection store.Collection = "apis"

// APIError is a failure of an apimgmt action: OpenWhisk's actions answer
// those with 502 and {"error": message}.
type APIError struct{ Message string }

func (e *APIError) Error() string { return e.Message }

func apiErr(format string, args ...any) error {
	return &APIError{Message: fmt.Sprintf(format, args...)}
}

// APIDoc is the apidoc a client sends to createApi.
type APIDoc struct {
	Namespace       string          `json:"namespace"`
	APIName         string          `json:"apiName,omitempty"`
	GatewayBasePath string          `json:"gatewayBasePath,omitempty"`
	GatewayPath     string          `json:"gatewayPath,omitempty"`
	GatewayMethod   string          `json:"gatewayMethod,omitempty"`
	ID              string          `json:"id,omitempty"`
	Swagger         json.RawMessage `json:"swagger,omitempty"` // an object or a JSON string
	Action          *APIDocAction   `json:"action,omitempty"`
	PathParameters  json.RawMessage `json:"pathParameters,omitempty"`
}

// APIDocAction is the action an API operation maps to.
type APIDocAction struct {
	Name          string          `json:"name,omitempty"` // "action" or "pkg/action"
	Namespace     string          `json:"namespace,omitempty"`
	BackendMethod string          `json:"backendMethod,omitempty"`
	BackendURL    string          `json:"backendUrl,omitempty"`
	AuthKey       string          `json:"authkey,omitempty"`
	SecureKey     json.RawMessage `json:"secureKey,omitempty"` // the action's require-whisk-auth
}

// API is a stored API: its swagger and what serving it needs.
type API struct {
	Namespace string          `json:"namespace"`
	BasePath  string          `json:"basePath"`
	Swagger   json.RawMessage `json:"swagger"`
	// SecureKeys holds, per "method path", the require-whisk-auth secret the
	// gateway presents to a secured web action, as OpenWhisk's gateway does.
	SecureKeys map[string]json.RawMessage `json:"secureKeys,omitempty"`
	Updated    int64                      `json:"updated"`
}

// Title is the API's name (swagger info.title).
func (a *API) Title() string {
	var s struct {
		Info struct {
			Title string `json:"title"`
		} `json:"info"`
	}
	_ = json.Unmarshal(a.Swagger, &s)
	return s.Info.Title
}

// apiVerbs are the operations an API may have.
var apiVerbs = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}

// webExtensions are the response types of web actions.
var webExtensions = map[string]bool{"http": true, "json": true, "html": true, "svg": true, "text": true}

// CreateAPI adds the apidoc's operation to the caller's API at its base path
// (creating the API), or replaces the whole API with the apidoc's swagger
// (createApi). responseType is the web action extension of the operation
// ("json" by default); webBase is the URL under which this server's web
// actions are reached, used when the apidoc's backend URL says nothing.
func (c *Controller) CreateAPI(ctx context.Context, id whisk.Identity, doc *APIDoc, responseType, webBase string) (*API, error) {
	if err := validateAPIDoc(doc); err != nil {
		return nil, err
	}
	if responseType == "" {
		responseType = "json"
	}
	responseType = strings.ToLower(responseType)
	if !webExtensions[responseType] {
		return nil, apiErr("API creation failure: Invalid response type '%s'. Valid values are: html, http, json, svg, text", responseType)
	}
	// The namespace the CLI sends ("_" as often as not) is replaced by the
	// caller's, in the action too when it named the same namespace.
	if doc.Action != nil && (doc.Action.Namespace == doc.Namespace || doc.Action.Namespace == whisk.SelfNamespace) {
		doc.Action.Namespace = id.Namespace
	}
	doc.Namespace = id.Namespace

	var swagger map[string]any
	basePath := doc.GatewayBasePath
	if len(doc.Swagger) > 0 {
		var err error
		if swagger, err = parseSwagger(doc.Swagger); err != nil {
			return nil, err
		}
		basePath, _ = swagger["basePath"].(string)
		if !strings.HasPrefix(basePath, "/") {
			return nil, apiErr("API creation failure: swagger basePath must start with a leading slash (/)")
		}
	}
	basePath = cleanBasePath(basePath)
	var stored *API
	err := c.updateAPI(ctx, id.Namespace, basePath, func(old *API) (*API, error) {
		api := &API{Namespace: id.Namespace, BasePath: basePath}
		if swagger == nil {
			// An operation added to the API at this base path, or to a new one.
			var cur map[string]any
			if old != nil {
				if err := json.Unmarshal(old.Swagger, &cur); err != nil {
					return nil, internal(fmt.Errorf("decode API %s%s: %w", id.Namespace, basePath, err))
				}
				api.SecureKeys = old.SecureKeys
			} else {
				cur = baseSwagger(basePath, doc.APIName)
			}
			if err := addOperation(cur, doc, responseType, webBase); err != nil {
				return nil, err
			}
			op := strings.ToLower(doc.GatewayMethod) + " " + doc.GatewayPath
			if api.SecureKeys != nil {
				delete(api.SecureKeys, op)
			}
			if k := bytes.TrimSpace(doc.Action.SecureKey); len(k) > 0 && !bytes.Equal(k, []byte("null")) && !bytes.Equal(k, []byte("false")) {
				if api.SecureKeys == nil {
					api.SecureKeys = map[string]json.RawMessage{}
				}
				api.SecureKeys[op] = k
			}
			swagger = cur
		}
		body, err := json.Marshal(swagger)
		if err != nil {
			return nil, internal(err)
		}
		api.Swagger = body
		stored = api
		return api, nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// validateAPIDoc checks an apidoc with the messages of OpenWhisk's createApi.
func validateAPIDoc(doc *APIDoc) error {
	if doc.Namespace == "" {
		return apiErr("apidoc is missing the namespace field")
	}
	if len(doc.Swagger) > 0 && !bytes.Equal(bytes.TrimSpace(doc.Swagger), []byte("null")) {
		if doc.GatewayBasePath != "" {
			return apiErr("swagger and gatewayBasePath are mutually exclusive and cannot be specified together.")
		}
		_, err := parseSwagger(doc.Swagger)
		return err
	}
	doc.Swagger = nil
	switch {
	case doc.GatewayBasePath == "":
		return apiErr("apidoc is missing the gatewayBasePath field")
	case doc.GatewayPath == "":
		return apiErr("apidoc is missing the gatewayPath field")
	case doc.GatewayMethod == "":
		return apiErr("apidoc is missing the gatewayMethod field")
	case doc.Action == nil:
		return apiErr("apidoc is missing the action field.")
	case doc.Action.BackendMethod == "":
		return apiErr("action is missing the backendMethod field.")
	case doc.Action.BackendURL == "":
		return apiErr("action is missing the backendUrl field.")
	case doc.Action.Namespace == "":
		return apiErr("action is missing the namespace field.")
	case doc.Action.Name == "":
		return apiErr("action is missing the name field.")
	case doc.Action.AuthKey == "":
		return apiErr("action is missing the authkey field.")
	}
	if !strings.HasPrefix(doc.GatewayBasePath, "/") || !strings.HasPrefix(doc.GatewayPath, "/") {
		return apiErr("API creation failure: base path and path must begin with '/'.")
	}
	if !apiVerbs[strings.ToLower(doc.GatewayMethod)] {
		return apiErr("API creation failure: '%s' is not a valid API verb.", doc.GatewayMethod)
	}
	return nil
}

// parseSwagger reads a swagger given as an object or as a JSON string.
func parseSwagger(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, apiErr("swagger field cannot be parsed. Ensure it is valid JSON.")
		}
		raw = []byte(s)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, apiErr("swagger field cannot be parsed. Ensure it is valid JSON.")
	}
	if s, _ := m["basePath"].(string); s == "" {
		return nil, apiErr("swagger is missing the basePath field.")
	}
	if _, ok := m["paths"].(map[string]any); !ok {
		return nil, apiErr("swagger is missing the paths field.")
	}
	if _, ok := m["info"].(map[string]any); !ok {
		return nil, apiErr("swagger is missing the info field.")
	}
	return m, nil
}

// cleanBasePath drops a trailing slash ("/club/" is "/club"), keeping "/".
func cleanBasePath(p string) string {
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	return p
}

// baseSwagger is a new API with no paths (generateBaseSwaggerApi).
func baseSwagger(basePath, name string) map[string]any {
	if name == "" {
		name = basePath
	}
	return map[string]any{
		"swagger":  "2.0",
		"info":     map[string]any{"title": name, "version": "1.0.0"},
		"basePath": basePath,
		"paths":    map[string]any{},
	}
}

var pathParamRE = regexp.MustCompile(`\{([^/{}]+)\}`)

// addOperation adds the apidoc's operation to a swagger
// (addEndpointToSwaggerApi): its x-openwhisk extension names the web action.
func addOperation(swagger map[string]any, doc *APIDoc, responseType, webBase string) error {
	op := strings.ToLower(doc.GatewayMethod)
	ns, pkg, name := splitActionName(doc.Action.Name)
	if ns == "" || ns == whisk.SelfNamespace {
		ns = doc.Action.Namespace
	}
	for _, s := range []string{ns, name} {
		if !whisk.ValidName(s) {
			return apiErr("API creation failure: '%s' is not a valid action name.", doc.Action.Name)
		}
	}
	if pkg != "" && !whisk.ValidName(pkg) {
		return apiErr("API creation failure: '%s' is not a valid action name.", doc.Action.Name)
	}
	urlPkg := pkg
	if urlPkg == "" {
		urlPkg = whisk.DefaultPackage
	}
	base := webBase
	if u, err := url.Parse(doc.Action.BackendURL); err == nil && u.Scheme != "" && u.Host != "" {
		base = u.Scheme + "://" + u.Host
	}
	target := strings.TrimRight(base, "/") + "/api/v1/web/" + url.PathEscape(ns) + "/" + url.PathEscape(urlPkg) + "/" +
		url.PathEscape(name) + "." + responseType
	operation := map[string]any{
		"operationId": op + "_" + doc.GatewayPath,
		"x-openwhisk": map[string]any{"namespace": ns, "package": pkg, "action": name, "url": target},
		"responses":   map[string]any{"default": map[string]any{"description": "Default response"}},
	}
	if params := pathParameters(doc); len(params) > 0 {
		operation["parameters"] = params
	}
	paths, _ := swagger["paths"].(map[string]any)
	if paths == nil {
		paths = map[string]any{}
		swagger["paths"] = paths
	}
	ops, _ := paths[doc.GatewayPath].(map[string]any)
	if ops == nil {
		ops = map[string]any{}
		paths[doc.GatewayPath] = ops
	}
	ops[op] = operation
	return nil
}

// pathParameters are the swagger parameters of the path's {param}
// segments: those the client sent, else made from the path.
func pathParameters(doc *APIDoc) []any {
	var given []any
	if json.Unmarshal(doc.PathParameters, &given) == nil && len(given) > 0 {
		return given
	}
	var out []any
	seen := map[string]bool{}
	for _, m := range pathParamRE.FindAllStringSubmatch(doc.GatewayPath, -1) {
		if seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		out = append(out, map[string]any{
			"name": m[1], "in": "path", "required": true, "type": "string",
			"description": fmt.Sprintf("Default description for '%s'", m[1]),
		})
	}
	return out
}

// splitActionName reads "/ns/pkg/action", "/ns/action", "pkg/action" or
// "action" (parseActionName of apigw-utils).
func splitActionName(s string) (ns, pkg, name string) {
	explicit := strings.HasPrefix(s, "/")
	parts := strings.Split(strings.Trim(s, "/"), "/")
	switch {
	case len(parts) == 3:
		return parts[0], parts[1], parts[2]
	case len(parts) == 2 && explicit:
		return parts[0], "", parts[1]
	case len(parts) == 2:
		return "", parts[0], parts[1]
	default:
		return "", "", parts[len(parts)-1]
	}
}

// updateAPI reads the API at ns/basePath (nil when there is none), lets fn
// make the new one (nil deletes it) and writes it, retrying on concurrent
// updates.
func (c *Controller) updateAPI(ctx context.Context, ns, basePath string, fn func(old *API) (*API, error)) error {
	defer c.apis.invalidate(ns)
	defer c.Invalidate(ns, basePath) // tells the other controllers (Deps.OnChange)
	for attempt := 0; ; attempt++ {
		doc, err := c.store.GetEntity(ctx, ns, basePath)
		var old *API
		var rev int64
		switch {
		case errors.Is(err, whisk.ErrNotFound):
		case err != nil:
			return internal(err)
		case doc.Collection != apisCollection:
			return internal(fmt.Errorf("entity %s/%s is not an API", ns, basePath))
		default:
			old = new(API)
			if err := json.Unmarshal(doc.Body, old); err != nil {
				return internal(fmt.Errorf("decode API %s%s: %w", ns, basePath, err))
			}
			rev = doc.Rev
		}
		api, err := fn(old)
		if err != nil {
			return err
		}
		if api == nil {
			if old == nil {
				return nil
			}
			err = c.store.DeleteEntity(ctx, ns, basePath, rev)
		} else {
			api.Updated = c.nowMS()
			var body []byte
			if body, err = json.Marshal(api); err != nil {
				return internal(err)
			}
			_, err = c.store.PutEntity(ctx, store.Doc{
				Collection: apisCollection, Namespace: ns, Path: ns, Name: basePath, Updated: api.Updated, Body: body,
			}, rev)
		}
		if (errors.Is(err, whisk.ErrConflict) || errors.Is(err, whisk.ErrNotFound)) && attempt < 5 {
			continue
		}
		return internal(err)
	}
}

// ListAPIs returns the caller's APIs, or those whose base path or name is
// basePathOrName (getApi), by base path.
func (c *Controller) ListAPIs(ctx context.Context, id whisk.Identity, basePathOrName string) ([]*API, error) {
	apis, err := c.loadAPIs(ctx, id.Namespace)
	if err != nil {
		return nil, err
	}
	var out []*API
	for _, a := range apis {
		if basePathOrName == "" || matchesAPI(a.api, basePathOrName) {
			out = append(out, a.api)
		}
	}
	return out, nil
}

func matchesAPI(a *API, basePathOrName string) bool {
	if strings.HasPrefix(basePathOrName, "/") {
		return a.BasePath == cleanBasePath(basePathOrName)
	}
	return a.Title() == basePathOrName
}

// DeleteAPI deletes the caller's API basePathOrName, or one path of it, or
// one operation of that path (deleteApi). An API left without paths goes.
func (c *Controller) DeleteAPI(ctx context.Context, id whisk.Identity, basePathOrName, relPath, operation string) error {
	if basePathOrName == "" {
		return apiErr("basepath is required.")
	}
	if relPath == "" && operation != "" {
		return apiErr("When specifying an operation, the path is required.")
	}
	operation = strings.ToLower(operation)
	apis, err := c.ListAPIs(ctx, id, basePathOrName)
	if err != nil {
		return err
	}
	if len(apis) == 0 {
		return apiErr("API deletion failure: API '%s' does not exist.", basePathOrName)
	}
	for _, target := range apis {
		err := c.updateAPI(ctx, id.Namespace, target.BasePath, func(old *API) (*API, error) {
			if old == nil || relPath == "" {
				return nil, nil
			}
			var sw map[string]any
			if err := json.Unmarshal(old.Swagger, &sw); err != nil {
				return nil, internal(err)
			}
			paths, _ := sw["paths"].(map[string]any)
			ops, _ := paths[relPath].(map[string]any)
			if ops == nil {
				return nil, apiErr("API deletion failure: path %s does not exist in the API", relPath)
			}
			if operation == "" {
				delete(paths, relPath)
				for op := range ops {
					delete(old.SecureKeys, op+" "+relPath)
				}
			} else {
				if _, ok := ops[operation]; !ok {
					return nil, apiErr("API deletion failure: path %s with operation %s does not exist in the API", relPath, operation)
				}
				delete(ops, operation)
				delete(old.SecureKeys, operation+" "+relPath)
				if len(ops) == 0 {
					delete(paths, relPath)
				}
			}
			if len(paths) == 0 {
				return nil, nil
			}
			body, err := json.Marshal(sw)
			if err != nil {
				return nil, internal(err)
			}
			old.Swagger = body
			return old, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Route is an API operation a request matched.
type Route struct {
	Action    whisk.FQN         // the web action
	Extension string            // its response type
	Params    map[string]string // values of the path's {param} segments
	// SecureKey is the require-whisk-auth secret to present to the action,
	// or "" when the operation has none.
	SecureKey string
}

// MatchRoute finds the operation of namespace ns's APIs that serves method
// and path (the request path below /api/{ns}): the longest matching base
// path, then the path with the most literal segments. No match is
// whisk.NotFound.
func (c *Controller) MatchRoute(ctx context.Context, ns, method, path string) (*Route, error) {
	if !whisk.ValidName(ns) {
		return nil, whisk.NotFound()
	}
	apis, err := c.loadAPIs(ctx, ns)
	if err != nil {
		return nil, err
	}
	op := strings.ToLower(method)
	for _, a := range apis { // longest base path first
		rel, ok := belowBasePath(path, a.api.BasePath)
		if !ok {
			continue
		}
		p, verb, params := a.route(op, rel)
		if p == nil {
			continue
		}
		ow := p.ops[verb]
		route := &Route{Action: ow.fqn, Extension: ow.ext, Params: params}
		if k := a.api.SecureKeys[verb+" "+p.template]; len(k) > 0 {
			var s string
			if json.Unmarshal(k, &s) != nil {
				s = string(k) // a number, as --web-secure true makes
			}
			route.SecureKey = s
		}
		return route, nil
	}
	return nil, whisk.NotFound()
}

// belowBasePath returns path relative to basePath ("/" when it is the base
// path itself).
func belowBasePath(path, basePath string) (string, bool) {
	if basePath == "/" {
		return path, true
	}
	if path == basePath {
		return "/", true
	}
	if strings.HasPrefix(path, basePath+"/") {
		return path[len(basePath):], true
	}
	return "", false
}

// parsedAPI is an API ready for routing.
type parsedAPI struct {
	api   *API
	paths []*routePath
}

type routePath struct {
	template string
	segments []string // literal, or "{name}"
	ops      map[string]*routeOp
}

type routeOp struct {
	fqn whisk.FQN
	ext string
}

// route finds the path of the API that serves verb on rel (relative to the
// base path): the one with the most literal segments among those matching.
// It returns the path, the operation's verb and the path's parameters.
func (pa *parsedAPI) route(verb, rel string) (*routePath, string, map[string]string) {
	var best *routePath
	var bestParams map[string]string
	bestScore := -1
	for _, p := range pa.paths {
		params, score, ok := p.match(rel)
		if ok && p.operation(verb) != "" && score > bestScore {
			best, bestScore, bestParams = p, score, params
		}
	}
	if best == nil {
		return nil, "", nil
	}
	return best, best.operation(verb), bestParams
}

// operation is the operation of the path that serves verb: its own, or for
// an OPTIONS (a CORS preflight) that the API does not define, any other, so
// that the web action answers the preflight as web actions do.
func (p *routePath) operation(verb string) string {
	if p.ops[verb] != nil {
		return verb
	}
	if verb != "options" {
		return ""
	}
	verbs := make([]string, 0, len(p.ops))
	for v := range p.ops {
		verbs = append(verbs, v)
	}
	if len(verbs) == 0 {
		return ""
	}
	sort.Strings(verbs)
	return verbs[0]
}

// match matches rel against the path's segments and returns the
// parameters and the number of literal segments matched.
func (p *routePath) match(rel string) (map[string]string, int, bool) {
	segs := strings.Split(strings.Trim(rel, "/"), "/")
	if len(segs) != len(p.segments) {
		return nil, 0, false
	}
	var params map[string]string
	score := 0
	for i, s := range p.segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			if segs[i] == "" {
				return nil, 0, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[s[1:len(s)-1]] = segs[i]
			continue
		}
		if s != segs[i] {
			return nil, 0, false
		}
		score++
	}
	return params, score, true
}

func parseAPI(api *API) *parsedAPI {
	var sw struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	_ = json.Unmarshal(api.Swagger, &sw)
	pa := &parsedAPI{api: api}
	for tmpl, ops := range sw.Paths {
		rp := &routePath{template: tmpl, segments: strings.Split(strings.Trim(tmpl, "/"), "/"), ops: map[string]*routeOp{}}
		for verb, raw := range ops {
			var op struct {
				XOpenWhisk *struct {
					Namespace string `json:"namespace"`
					Package   string `json:"package"`
					Action    string `json:"action"`
					URL       string `json:"url"`
				} `json:"x-openwhisk"`
			}
			if json.Unmarshal(raw, &op) != nil || op.XOpenWhisk == nil || op.XOpenWhisk.Action == "" {
				continue
			}
			ow := op.XOpenWhisk
			ext := "json"
			if i := strings.LastIndex(ow.URL, "."); i >= 0 && webExtensions[ow.URL[i+1:]] {
				ext = ow.URL[i+1:]
			}
			rp.ops[strings.ToLower(verb)] = &routeOp{fqn: whisk.FQN{Namespace: ow.Namespace, Package: ow.Package, Name: ow.Action}, ext: ext}
		}
		pa.paths = append(pa.paths, rp)
	}
	sort.Slice(pa.paths, func(i, j int) bool { return pa.paths[i].template < pa.paths[j].template })
	return pa
}

// loadAPIs returns namespace ns's APIs, longest base path first.
func (c *Controller) loadAPIs(ctx context.Context, ns string) ([]*parsedAPI, error) {
	now := c.now()
	if apis, ok := c.apis.get(ns, now, c.cfg.EntityCacheTTL); ok {
		return apis, nil
	}
	epoch := c.apis.epoch.Load()
	docs, err := c.store.ListEntities(ctx, store.ListQuery{Collection: apisCollection, Namespace: ns})
	if err != nil {
		return nil, internal(err)
	}
	out := make([]*parsedAPI, 0, len(docs))
	for _, d := range docs {
		api := new(API)
		if err := json.Unmarshal(d.Body, api); err != nil {
			c.log.Error("unreadable API skipped", "namespace", ns, "basePath", d.Name, "err", err)
			continue
		}
		out = append(out, parseAPI(api))
	}
	sort.Slice(out, func(i, j int) bool {
		bi, bj := out[i].api.BasePath, out[j].api.BasePath
		if len(bi) != len(bj) {
			return len(bi) > len(bj)
		}
		return bi < bj
	})
	c.apis.put(ns, out, now, epoch)
	return out, nil
}

// apiCache keeps each namespace's parsed APIs, so that serving a route
// reads nothing from the store. Writes through this controller invalidate
// at once; others' writes are seen within the entity cache TTL.
type apiCache struct {
	mu    sync.RWMutex
	m     map[string]apiCacheEntry
	epoch atomic.Uint64
}

type apiCacheEntry struct {
	apis   []*parsedAPI
	loaded time.Time
}

func (a *apiCache) get(ns string, now time.Time, ttl time.Duration) ([]*parsedAPI, bool) {
	a.mu.RLock()
	e, ok := a.m[ns]
	a.mu.RUnlock()
	if !ok || ttl > 0 && now.Sub(e.loaded) >= ttl {
		return nil, false
	}
	return e.apis, true
}

func (a *apiCache) put(ns string, apis []*parsedAPI, now time.Time, epoch uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.epoch.Load() != epoch {
		return // invalidated while loading
	}
	if a.m == nil || len(a.m) > 10000 {
		a.m = map[string]apiCacheEntry{}
	}
	a.m[ns] = apiCacheEntry{apis: apis, loaded: now}
}

func (a *apiCache) invalidate(ns string) {
	a.mu.Lock()
	a.epoch.Add(1)
	delete(a.m, ns)
	a.mu.Unlock()
}
