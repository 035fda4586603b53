package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The API gateway is driven through the /whisk.system/apimgmt web actions,
// as wsk does (openwhisk-client-go ApiService): createApi, getApi and
// deleteApi, all .http, with the caller's key.
const apiMgmtPath = apiPath + "/web/whisk.system/apimgmt/"

// APIDoc is the apidoc of createApi.
type APIDoc struct {
	Namespace       string         `json:"namespace"`
	APIName         string         `json:"apiName,omitempty"`
	GatewayBasePath string         `json:"gatewayBasePath,omitempty"`
	GatewayRelPath  string         `json:"gatewayPath,omitempty"`
	GatewayMethod   string         `json:"gatewayMethod,omitempty"`
	ID              string         `json:"id,omitempty"`
	Swagger         string         `json:"swagger,omitempty"`
	Action          *APIAction     `json:"action,omitempty"`
	PathParameters  []APIParameter `json:"pathParameters,omitempty"`
}

// APIAction is the web action an API operation calls.
type APIAction struct {
	Name          string `json:"name,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
	BackendMethod string `json:"backendMethod,omitempty"`
	BackendURL    string `json:"backendUrl,omitempty"`
	AuthKey       string `json:"authkey,omitempty"`
	SecureKey     any    `json:"secureKey,omitempty"`
}

// APIParameter is a swagger path parameter.
type APIParameter struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Type        string `json:"type,omitempty"`
}

// API is an API as the apimgmt actions return it (wsk's RetApi).
type API struct {
	Namespace string   `json:"namespace"`
	BaseURL   string   `json:"gwApiUrl"`
	Activated bool     `json:"gwApiActivated"`
	TenantID  string   `json:"tenantId"`
	Swagger   *Swagger `json:"apidoc,omitempty"`
}

// Swagger is the part of an API's OpenAPI 2.0 document a client reads.
type Swagger struct {
	Swagger  string                                  `json:"swagger"`
	BasePath string                                  `json:"basePath"`
	Info     SwaggerInfo                             `json:"info"`
	Paths    map[string]map[string]*SwaggerOperation `json:"paths"`
}

// SwaggerInfo is the API's name and version.
type SwaggerInfo struct {
	Title   string `json:"title"`
	Version string `json:"version"`
}

// SwaggerOperation is one verb of one path.
type SwaggerOperation struct {
	OperationID string             `json:"operationId"`
	XOpenWhisk  *SwaggerXOpenWhisk `json:"x-openwhisk,omitempty"`
	Parameters  []APIParameter     `json:"parameters,omitempty"`
	Responses   map[string]any     `json:"responses,omitempty"`
}

// SwaggerXOpenWhisk names an operation's web action.
type SwaggerXOpenWhisk struct {
	Namespace string `json:"namespace"`
	Package   string `json:"package"`
	Action    string `json:"action"`
	URL       string `json:"url"`
}

// ActionName is the operation's action as "/ns[/pkg]/name".
func (x *SwaggerXOpenWhisk) ActionName() string {
	if x == nil {
		return ""
	}
	if x.Package != "" {
		return "/" + x.Namespace + "/" + x.Package + "/" + x.Action
	}
	return "/" + x.Namespace + "/" + x.Action
}

// APIOptions select APIs: a base path (or API name), a path and a verb.
type APIOptions struct {
	BasePath  string
	RelPath   string
	Operation string
}

// pathParamRE finds the {param} segments of a path (wsk's pathSegmentParamRegex).
var pathParamRE = regexp.MustCompile(`^\{([^/]+)\}$`)

// PathParameters are the swagger parameters of path's {param} segments.
func PathParameters(path string) []APIParameter {
	var out []APIParameter
	seen := map[string]bool{}
	for _, seg := range strings.Split(path, "/") {
		m := pathParamRE.FindStringSubmatch(seg)
		if m == nil || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		out = append(out, APIParameter{Name: m[1], In: "path", Required: true, Type: "string",
			Description: "Default description for '" + m[1] + "'"})
	}
	return out
}

// CreateAPI sends createApi: doc adds one operation to an API (or, with
// Swagger set, replaces the API). responseType is the web action
// extension the operation calls ("json" if empty).
func (c *Client) CreateAPI(ctx context.Context, doc *APIDoc, responseType string) (*API, error) {
	q := c.apiQuery()
	if responseType != "" {
		q.Set("responsetype", responseType)
	}
	if doc.Action != nil && doc.Action.AuthKey == "" && c.user != "" {
		// The gateway invokes the action with it (OpenWhisk's createApi requires it).
		doc.Action.AuthKey = c.user + ":" + c.pass
	}
	resp, err := c.apiMgmt(ctx, http.MethodPost, "createApi", q, map[string]any{"apidoc": doc})
	if err != nil {
		return nil, err
	}
	var api API
	if err := decode(resp, &api); err != nil {
		return nil, err
	}
	if api.Swagger == nil {
		return nil, errors.New("client: the API configuration has no apidoc")
	}
	return &api, nil
}

// GetAPIs sends getApi: the caller's APIs, or those of a base path or name.
func (c *Client) GetAPIs(ctx context.Context, basePathOrName string, opts ListOptions) ([]API, error) {
	q := c.apiQuery()
	if basePathOrName != "" {
		q.Set("basepath", basePathOrName)
	}
	q.Set("limit", strconv.Itoa(opts.Limit))
	q.Set("skip", strconv.Itoa(opts.Skip))
	resp, err := c.apiMgmt(ctx, http.MethodGet, "getApi", q, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		APIs []struct {
			ID    string `json:"id"`
			Key   string `json:"key"`
			Value *API   `json:"value"`
		} `json:"apis"`
	}
	if err := decode(resp, &out); err != nil {
		return nil, err
	}
	apis := make([]API, 0, len(out.APIs))
	for _, a := range out.APIs {
		if a.Value == nil || a.Value.Swagger == nil {
			return nil, errors.New("client: an API in the answer has no configuration")
		}
		apis = append(apis, *a.Value)
	}
	return apis, nil
}

// DeleteAPI sends deleteApi: a whole API, one path of it or one operation.
func (c *Client) DeleteAPI(ctx context.Context, opts APIOptions) error {
	q := c.apiQuery()
	q.Set("basepath", opts.BasePath)
	if opts.RelPath != "" {
		q.Set("relpath", opts.RelPath)
	}
	if opts.Operation != "" {
		q.Set("operation", opts.Operation)
	}
	q.Set("force", "true")
	_, err := c.apiMgmt(ctx, http.MethodDelete, "deleteApi", q, nil)
	return err
}

// apiQuery carries what wsk sends with every apimgmt call: the key's uuid as
// the space and the gateway token (unused by Gust).
func (c *Client) apiQuery() url.Values {
	q := url.Values{}
	if c.user != "" {
		q.Set("spaceguid", c.user)
	}
	return q
}

// apiMgmt calls an apimgmt web action. Its failures are the action's:
// 502 with {"error": message}, without a transaction id.
func (c *Client) apiMgmt(ctx context.Context, method, action string, q url.Values, in any) (*Response, error) {
	resp, err := c.Do(ctx, method, apiMgmtPath+action+".http", q, in)
	var e *Error
	if errors.As(err, &e) && e.Code == "" {
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(e.Body, &body) == nil && body.Error != "" {
			e.Message = body.Error
		}
	}
	return resp, err
}

// WebActionURL is where the web action name is reached with extension ext
// ("" for none).
func (c *Client) WebActionURL(n Name, ext string) string {
	pkg := n.Package
	if pkg == "" {
		pkg = "default"
	}
	u := strings.TrimRight(c.base.String(), "/") + apiPath + "/web/" + url.PathEscape(n.Namespace) + "/" +
		url.PathEscape(pkg) + "/" + url.PathEscape(n.Name)
	if ext != "" {
		u += "." + ext
	}
	return u
}
