package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// Web actions (spec §9): {ANY} /api/v1/web/{ns}/{pkg|default}/{action}[.ext][/path].
// The request becomes the action's arguments (__ow_* context, query, body);
// the result becomes the response, as the extension says.

// OpenWhisk's web action messages, verbatim.
const (
	msgPropertyNotFound    = "Response does not include requested property."
	msgHTTPUnknownType     = "Response did not specify a known content-type."
	msgHTTPContentTypeErr  = "Response type in header did not match generated content type."
	msgErrorProcessing     = "There was an error processing your request."
	msgResponseNotReady    = "Response not yet ready."
	webCORSMethods         = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
	defaultCORSHeaders     = "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
	headerRequireWhiskAuth = "X-Require-Whisk-Auth"
	headerActivationID     = "x-openwhisk-activation-id"
)

func msgInvalidMedia(mediaType string) string { return "Response is not valid '" + mediaType + "'." }

// The __ow_* parameters a web action receives; a request may not set them.
const (
	owMethod  = "__ow_method"
	owHeaders = "__ow_headers"
	owPath    = "__ow_path"
	owUser    = "__ow_user"
	owQuery   = "__ow_query"
	owBody    = "__ow_body"
)

var reservedWebParams = map[string]bool{owMethod: true, owHeaders: true, owPath: true, owUser: true, owQuery: true, owBody: true}

// webExtensions are the response types, by URL extension; names without one
// answer as .http.
var webExtensions = []string{".http", ".json", ".html", ".svg", ".text"}

// splitExtension splits "name.ext" when ext is a known extension.
func splitExtension(segment string) (name, ext string) {
	for _, e := range webExtensions {
		if strings.HasSuffix(segment, e) && len(segment) > len(e) {
			return strings.TrimSuffix(segment, e), e[1:]
		}
	}
	return segment, "http"
}

// webTarget is the web action a request runs and how.
type webTarget struct {
	fqn    whisk.FQN
	ext    string
	owPath string            // the path after the action segment ("" if none)
	params map[string]string // path parameters of an API route, merged like query parameters
}

// serveWeb answers /api/v1/web/...: OPTIONS and CORS, authentication when
// the request carries credentials, then the action.
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request) {
	rw := w.(*responseWriter)
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v1/web/")
	segs := strings.SplitN(rest, "/", 4)
	if len(segs) < 3 || segs[0] == "" || segs[1] == "" || segs[2] == "" {
		s.webShapeMismatch(rw, r)
		return
	}
	var names [3]string
	for i := range names {
		n, err := url.PathUnescape(segs[i])
		if err != nil {
			s.webShapeMismatch(rw, r)
			return
		}
		names[i] = n
	}
	name, ext := splitExtension(names[2])
	t := webTarget{fqn: whisk.FQN{Namespace: names[0], Package: names[1], Name: name}, ext: ext}
	if len(segs) == 4 {
		t.owPath = "/" + segs[3]
	}
	if t.fqn.Package == whisk.DefaultPackage {
		t.fqn.Package = ""
	}
	if !whisk.ValidName(t.fqn.Namespace) || !whisk.ValidName(t.fqn.Name) || t.fqn.Package != "" && !whisk.ValidName(t.fqn.Package) {
		s.writeWebError(rw, r, whisk.NotFound())
		return
	}
	if t.fqn.Namespace == whisk.SystemNamespace && (t.fqn.Package == "apimgmt" || t.fqn.Package == "routemgmt") {
		s.serveAPIManagement(rw, r, t)
		return
	}
	if err := s.serveWebAction(rw, r, t); err != nil {
		s.writeWebError(rw, r, err)
	}
}

// webShapeMismatch answers a /api/v1/web path that names no action: an
// OPTIONS is a CORS preflight answered as the REST API's, anything else is
// not found.
func (s *Server) webShapeMismatch(rw *responseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		h := rw.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, DELETE, POST, PUT, HEAD")
		h.Set("Access-Control-Allow-Headers", defaultCORSHeaders)
		rw.WriteHeader(http.StatusOK)
		return
	}
	s.writeWebError(rw, r, whisk.NotFound())
}

// webCaller authenticates the request's credentials when it has some; bad
// ones make an anonymous request, as in OpenWhisk, where an authenticated
// route that rejects falls through to the anonymous one.
func (s *Server) webCaller(r *http.Request) *request {
	if _, _, ok := r.BasicAuth(); !ok {
		return nil
	}
	req, err := s.authenticate(r)
	if err != nil {
		return nil
	}
	return req
}

// serveWebAction runs the web action t for the request.
func (s *Server) serveWebAction(rw *responseWriter, r *http.Request, t webTarget) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		return whisk.Errorf(whisk.CodeNotAllowed, "HTTP method not allowed, supported methods: %s", webCORSMethods)
	}
	if r.ContentLength > s.maxPayload {
		return controller.TooLarge("Request", int(r.ContentLength), int(s.maxPayload))
	}
	action, err := s.ctl.ResolveWebAction(r.Context(), t.fqn)
	if err != nil {
		return err
	}
	caller := s.webCaller(r)
	if !action.CustomOptions() {
		setWebCORS(rw.Header(), r)
		if r.Method == http.MethodOptions {
			rw.WriteHeader(http.StatusOK)
			return nil
		}
	}
	// With custom options the action answers OPTIONS, authenticated or not.
	if r.Method != http.MethodOptions && !webAuthorized(action.Annotations, r, caller) {
		return &whisk.Error{Code: whisk.CodeUnauthorized, Message: whisk.MsgUnauthenticated}
	}
	body, err := s.readBody(rw, r, s.maxPayload)
	if err != nil {
		return err
	}
	args, err := webArguments(r, t, body, caller, action.RawHTTP())
	if err != nil {
		return err
	}
	key := ""
	if caller != nil && caller.id.Namespace == action.Owner.Namespace {
		key = caller.apiKey
	}
	res, err := s.ctl.InvokeWeb(r.Context(), action, args, rw.tid, key)
	if err != nil {
		return err
	}
	rw.Header().Set(headerActivationID, res.ActivationID)
	if res.Activation == nil {
		return &whisk.Error{Code: whisk.CodeAccepted, Message: msgResponseNotReady}
	}
	return writeWebResult(rw, res.Activation, t.ext)
}

// setWebCORS sets the CORS headers of a web action that does not answer
// OPTIONS itself.
func setWebCORS(h http.Header, r *http.Request) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", webCORSMethods)
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", defaultCORSHeaders)
	}
}

// webAuthorized applies require-whisk-auth: true needs valid credentials; a
// string or number needs the X-Require-Whisk-Auth header to equal it; false
// or absent lets anyone in.
func webAuthorized(ann whisk.KeyValues, r *http.Request, caller *request) bool {
	raw := bytes.TrimSpace(ann.Get(controller.AnnoRequireAuth))
	if len(raw) == 0 {
		return true
	}
	switch raw[0] {
	case 't':
		return caller != nil
	case 'f', 'n':
		return true
	case '"':
		var want string
		if json.Unmarshal(raw, &want) != nil {
			return false
		}
		got, ok := r.Header[http.CanonicalHeaderKey(headerRequireWhiskAuth)]
		return ok && len(got) > 0 && got[0] == want
	default:
		got, ok := r.Header[http.CanonicalHeaderKey(headerRequireWhiskAuth)]
		return ok && len(got) > 0 && got[0] == string(raw)
	}
}

// webArguments builds the action's arguments from the request (spec §9):
// the __ow_* context, then the query, then the body, later ones winning.
func webArguments(r *http.Request, t webTarget, body []byte, caller *request, raw bool) ([]byte, error) {
	args := map[string]any{}
	args[owMethod] = strings.ToLower(r.Method)
	args[owHeaders] = webHeaders(r)
	args[owPath] = t.owPath
	if caller != nil {
		args[owUser] = caller.id.Namespace
	}
	mediaType, params, hasType := requestMediaType(r)
	if raw {
		args[owQuery] = r.URL.RawQuery
		switch {
		case len(body) == 0 && !hasType:
			args[owBody] = ""
		case isBinaryMedia(mediaType, params) || mediaType == "application/json":
			// JSON is base64 too, for legacy reasons (OpenWhisk).
			args[owBody] = base64.StdEncoding.EncodeToString(body)
		default:
			args[owBody] = string(body)
		}
		for k, v := range t.params {
			args[k] = v
		}
		return json.Marshal(args)
	}

	given := map[string]bool{}
	for k, vs := range r.URL.Query() {
		args[k] = vs[len(vs)-1]
		given[k] = true
	}
	for k, v := range t.params {
		args[k] = v
		given[k] = true
	}
	switch {
	case len(body) == 0 && (!hasType || isJSONFamily(mediaType)):
	case isJSONFamily(mediaType):
		var v any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, controller.Malformed(decodeDetail(err))
		}
		if obj, ok := v.(map[string]any); ok {
			for k, fv := range obj {
				args[k] = fv
				given[k] = true
			}
		} else {
			args[owBody] = v
		}
	case mediaType == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, controller.Malformed(err.Error())
		}
		for k, vs := range form {
			args[k] = vs[len(vs)-1]
			given[k] = true
		}
	case isBinaryMedia(mediaType, params):
		args[owBody] = base64.StdEncoding.EncodeToString(body)
	default:
		args[owBody] = string(body)
	}
	for k := range given {
		if reservedWebParams[k] {
			return nil, whisk.BadRequest(whisk.MsgFinalParams)
		}
	}
	return json.Marshal(args)
}

// webHeaders are the request headers as OpenWhisk gives them: lower-case
// names, the last value of a repeated header, the host included and the
// content length not (it belongs to the entity).
func webHeaders(r *http.Request) map[string]string {
	h := make(map[string]string, len(r.Header)+1)
	for k, vs := range r.Header {
		if len(vs) == 0 {
			continue
		}
		h[strings.ToLower(k)] = vs[len(vs)-1]
	}
	delete(h, "content-length")
	if r.Host != "" {
		h["host"] = r.Host
	}
	return h
}

// requestMediaType is the request's content type. A body sent without one
// is octet-stream, as HTTP says.
func requestMediaType(r *http.Request) (string, map[string]string, bool) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "application/octet-stream", nil, false
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0])), nil, true
	}
	return mt, params, true
}

func isJSONFamily(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// textApplicationTypes are application/* types that are text.
var textApplicationTypes = map[string]bool{
	"application/json": true, "application/javascript": true, "application/ecmascript": true,
	"application/xml": true, "application/x-www-form-urlencoded": true, "application/graphql": true,
	"application/x-javascript": true, "application/x-yaml": true, "application/yaml": true, "application/sql": true,
}

// isBinaryMedia reports whether a media type carries bytes rather than
// text: text/*, the textual application types, +json and +xml types and any
// type given a charset are text; everything else (images, audio, video,
// octet-stream, unknown types) is binary, as akka-http classifies them.
func isBinaryMedia(mt string, params map[string]string) bool {
	if _, ok := params["charset"]; ok {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasPrefix(mt, "multipart/"):
		return false
	case textApplicationTypes[mt], strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return false
	}
	return true
}

// writeWebResult turns an activation into the web response its extension
// asks for.
func writeWebResult(rw *responseWriter, act *whisk.Activation, ext string) error {
	result := bytes.TrimSpace(act.Response.Result)
	switch act.Response.StatusCode {
	case whisk.StatusSuccess:
	case whisk.StatusApplicationError:
		// The error field of a failed activation is the response.
		var m map[string]json.RawMessage
		e, ok := json.RawMessage(nil), false
		if json.Unmarshal(result, &m) == nil {
			e, ok = m["error"]
		}
		if !ok {
			return whisk.Errorf(whisk.CodeNotFound, "%s", msgPropertyNotFound)
		}
		result = bytes.TrimSpace(e)
	default:
		return whisk.BadRequest(msgErrorProcessing)
	}
	if len(result) == 0 {
		result = []byte("{}")
	}
	switch ext {
	case "json":
		if result[0] != '{' && result[0] != '[' {
			return whisk.BadRequest("%s", msgInvalidMedia("application/json"))
		}
		writeRawJSON(rw, http.StatusOK, result)
		return nil
	case "html":
		return writeMarkup(rw, result, "html", "text/html", "text/html; charset=UTF-8")
	case "svg":
		return writeMarkup(rw, result, "svg", "image/svg+xml", "image/svg+xml")
	case "text":
		return writeWebText(rw, result)
	default:
		return writeHTTPResult(rw, result)
	}
}

// field returns the first of names present in an object result.
func field(result []byte, names ...string) (json.RawMessage, bool) {
	if result[0] != '{' {
		return result, true
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(result, &m) != nil {
		return nil, false
	}
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v, true
		}
	}
	return nil, false
}

// writeMarkup answers .html and .svg: the body (or html/svg) field, a string.
func writeMarkup(rw *responseWriter, result []byte, name, mediaType, contentType string) error {
	v, _ := field(result, "body", name)
	var s string
	if v == nil || json.Unmarshal(v, &s) != nil {
		return whisk.BadRequest("%s", msgInvalidMedia(mediaType))
	}
	rw.Header().Set("Content-Type", contentType)
	rw.WriteHeader(http.StatusOK)
	_, _ = rw.Write([]byte(s))
	return nil
}

// writeWebText answers .text: the body (or text) field, objects and arrays
// printed pretty, other values as their text.
func writeWebText(rw *responseWriter, result []byte) error {
	v, ok := field(result, "body", "text")
	if !ok {
		return whisk.Errorf(whisk.CodeNotFound, "%s", msgPropertyNotFound)
	}
	v = bytes.TrimSpace(v)
	var out []byte
	switch {
	case len(v) == 0:
		out = []byte("null")
	case v[0] == '{' || v[0] == '[':
		var buf bytes.Buffer
		if json.Indent(&buf, v, "", "  ") != nil {
			return whisk.BadRequest("%s", msgInvalidMedia("text/plain"))
		}
		out = buf.Bytes()
	case v[0] == '"':
		var s string
		_ = json.Unmarshal(v, &s)
		out = []byte(s)
	default:
		out = v
	}
	rw.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	rw.WriteHeader(http.StatusOK)
	_, _ = rw.Write(out)
	return nil
}

// httpHeader is one response header of an .http result.
type httpHeader struct{ name, value string }

// writeHTTPResult answers .http: the result is {statusCode, headers, body}.
func writeHTTPResult(rw *responseWriter, result []byte) error {
	invalid := whisk.BadRequest("%s", msgInvalidMedia("message/http"))
	if result[0] != '{' {
		return invalid
	}
	var r struct {
		Headers    json.RawMessage `json:"headers"`
		StatusCode json.RawMessage `json:"statusCode"`
		Body       json.RawMessage `json:"body"`
	}
	if json.Unmarshal(result, &r) != nil {
		return invalid
	}
	var headers []httpHeader
	if hs := bytes.TrimSpace(r.Headers); len(hs) > 0 && !bytes.Equal(hs, []byte("null")) {
		var err error
		if headers, err = parseResultHeaders(hs); err != nil {
			return invalid
		}
	}
	code := 0
	if sc := bytes.TrimSpace(r.StatusCode); len(sc) > 0 && !bytes.Equal(sc, []byte("null")) {
		var err error
		if code, err = parseStatusCode(sc); err != nil {
			return invalid
		}
	}
	body := bytes.TrimSpace(r.Body)
	var str string
	switch {
	case len(body) == 0 || bytes.Equal(body, []byte("null")):
		return writeEmpty(rw, code, headers)
	case body[0] == '"':
		if json.Unmarshal(body, &str) != nil {
			return invalid
		}
		if str == "" {
			return writeEmpty(rw, code, headers)
		}
		return writeStringBody(rw, code, headers, str)
	default:
		return writeJSONBody(rw, code, headers, body)
	}
}

func parseResultHeaders(raw json.RawMessage) ([]httpHeader, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	var out []httpHeader
	var add func(name string, v any) error
	add = func(name string, v any) error {
		switch x := v.(type) {
		case string:
			out = append(out, httpHeader{name, x})
		case bool:
			out = append(out, httpHeader{name, strconv.FormatBool(x)})
		case json.Number:
			out = append(out, httpHeader{name, x.String()})
		case []any:
			for _, e := range x {
				if err := add(name, e); err != nil {
					return err
				}
			}
		default:
			return errors.New("invalid header")
		}
		return nil
	}
	for name, v := range m {
		if err := add(name, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseStatusCode reads statusCode: a whole number or a string of one, a
// status HTTP knows.
func parseStatusCode(raw json.RawMessage) (int, error) {
	var n json.Number
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		n = json.Number(s)
	} else if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	code, err := strconv.Atoi(n.String())
	if err != nil || http.StatusText(code) == "" {
		return 0, errors.New("illegal status code")
	}
	return code, nil
}

// contentTypeOf finds the Content-Type among result headers.
func contentTypeOf(headers []httpHeader) (string, bool) {
	for _, h := range headers {
		if strings.EqualFold(h.name, "Content-Type") {
			return h.value, true
		}
	}
	return "", false
}

// setResultHeaders sets an .http result's headers but its content type:
// the first value of a header replaces a default (CORS), repeated ones add.
func setResultHeaders(h http.Header, headers []httpHeader) {
	seen := map[string]bool{}
	for _, hd := range headers {
		if strings.EqualFold(hd.name, "Content-Type") {
			continue
		}
		k := http.CanonicalHeaderKey(hd.name)
		if seen[k] {
			h.Add(k, hd.value)
		} else {
			h.Set(k, hd.value)
			seen[k] = true
		}
	}
}

func writeEmpty(rw *responseWriter, code int, headers []httpHeader) error {
	if code == 0 {
		code = http.StatusNoContent
	}
	setResultHeaders(rw.Header(), headers)
	rw.WriteHeader(code)
	return nil
}

// writeStringBody sends a string body in the given content type (text/html
// by default): binary types carry it base64-encoded, and so may JSON types
// (legacy).
func writeStringBody(rw *responseWriter, code int, headers []httpHeader, s string) error {
	ct, given := contentTypeOf(headers)
	mt, params := "text/html", map[string]string{}
	if given {
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			return whisk.BadRequest(msgHTTPUnknownType)
		}
	}
	data := []byte(s)
	contentType := mt
	switch {
	case isJSONFamily(mt) && whisk.IsBase64(s):
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return whisk.BadRequest(msgHTTPContentTypeErr)
		}
		data = dec
		if mt != "application/json" {
			contentType = mt + "; charset=UTF-8"
		}
	case isJSONFamily(mt):
		if mt != "application/json" {
			contentType = mt + "; charset=UTF-8"
		}
	case isBinaryMedia(mt, params):
		dec, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return whisk.BadRequest(msgHTTPContentTypeErr)
		}
		data = dec
	default:
		cs := params["charset"]
		if cs == "" {
			cs = "UTF-8"
		}
		contentType = mt + "; charset=" + cs
	}
	if code == 0 {
		code = http.StatusOK
	}
	setResultHeaders(rw.Header(), headers)
	rw.Header().Set("Content-Type", contentType)
	rw.WriteHeader(code)
	_, _ = rw.Write(data)
	return nil
}

// writeJSONBody sends a JSON body: application/json, or the JSON type the
// headers name, printed pretty as OpenWhisk does for those.
func writeJSONBody(rw *responseWriter, code int, headers []httpHeader, body []byte) error {
	mt := "application/json"
	if ct, ok := contentTypeOf(headers); ok {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return whisk.BadRequest(msgHTTPUnknownType)
		}
	}
	if !isJSONFamily(mt) {
		return whisk.BadRequest(msgHTTPContentTypeErr)
	}
	contentType := "application/json"
	if mt != "application/json" {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
		contentType = mt + "; charset=UTF-8"
	}
	if code == 0 {
		code = http.StatusOK
	}
	setResultHeaders(rw.Header(), headers)
	rw.Header().Set("Content-Type", contentType)
	rw.WriteHeader(code)
	_, _ = rw.Write(body)
	return nil
}

// writeWebError is writeError for web actions: a 401 there is the action's
// refusal, not a challenge for the platform's credentials, so it carries no
// WWW-Authenticate header.
func (s *Server) writeWebError(rw *responseWriter, r *http.Request, err error) {
	if whisk.CodeOf(err) != whisk.CodeUnauthorized {
		s.writeError(rw, r, err)
		return
	}
	body, _ := json.Marshal(errorBody{Error: whisk.MsgUnauthenticated, Code: rw.tid})
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusUnauthorized)
	_, _ = rw.Write(body)
}
