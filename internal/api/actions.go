package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// actionFQN reads {ns}, {pkg} and {name} of an action route.
func actionFQN(r *http.Request, req *request) (whisk.FQN, error) {
	ns, err := namespace(r, req)
	if err != nil {
		return whisk.FQN{}, err
	}
	f := whisk.FQN{Namespace: ns, Package: r.PathValue("pkg"), Name: r.PathValue("name")}
	if f.Package != "" {
		if err := entityName(f.Package); err != nil {
			return whisk.FQN{}, err
		}
	}
	return f, entityName(f.Name)
}

func (s *Server) listActions(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	pkg := r.PathValue("pkg")
	if pkg != "" {
		if err := entityName(pkg); err != nil {
			return err
		}
	}
	ctx := r.Context()
	return listEntities(w, r, "actions",
		func(skip int) (int, error) { return s.ctl.CountActions(ctx, req.id, ns, pkg, skip) },
		func(page controller.Page) (any, error) { return s.ctl.ListActions(ctx, req.id, ns, pkg, page) })
}

// action serves GET, PUT, DELETE and POST (invoke) of one action.
func (s *Server) action(w *responseWriter, r *http.Request, req *request) error {
	fqn, err := actionFQN(r, req)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodPut:
		return s.putAction(w, r, req, fqn)
	case http.MethodDelete:
		a, err := s.ctl.DeleteAction(r.Context(), req.id, fqn)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a)
	case http.MethodPost:
		return s.invokeAction(w, r, req, fqn)
	default:
		code, err := boolParam(r.URL.Query(), "code", true)
		if err != nil {
			return err
		}
		a, err := s.ctl.GetAction(r.Context(), req.id, fqn)
		if err != nil {
			return err
		}
		if !code {
			withoutCode := *a
			withoutCode.Exec.Code = nil
			a = &withoutCode
		}
		return writeJSON(w, http.StatusOK, a)
	}
}

func (s *Server) putAction(w *responseWriter, r *http.Request, req *request, fqn whisk.FQN) error {
	overwrite, err := boolParam(r.URL.Query(), "overwrite", false)
	if err != nil {
		return err
	}
	body, err := s.readBody(w, r, s.cfg.MaxEntityBytes)
	if err != nil {
		return err
	}
	put, err := decodeActionPut(body)
	if err != nil {
		return err
	}
	a, err := s.ctl.PutAction(r.Context(), req.id, fqn, put, overwrite)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a)
}

// decodeActionPut decodes a PUT body. Unknown fields (name, namespace, which
// clients send) are ignored, as OpenWhisk ignores them.
func decodeActionPut(body []byte) (*whisk.ActionPut, error) {
	put := new(whisk.ActionPut)
	if err := json.Unmarshal(body, put); err != nil {
		return nil, controller.Malformed(decodeDetail(err))
	}
	return put, nil
}

// decodeDetail words a JSON decoding error for the malformed-content message.
func decodeDetail(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || err.Error() == "unexpected end of JSON input":
		return "Unexpected end-of-input, expected JSON Value"
	case errors.As(err, &syntax):
		return "Unexpected input at input index " + itoa(syntax.Offset) + ": " + syntax.Error()
	case errors.As(err, &typ) && typ.Field != "":
		return "Expected " + typ.Type.String() + " for '" + typ.Field + "' but got JSON " + typ.Value
	}
	return err.Error()
}

// readBody reads a request body of at most limit bytes (OpenWhisk's 413
// otherwise).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, controller.TooLarge("Request", int(r.ContentLength), int(limit))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, controller.TooLarge("Request", int(limit)+1, int(limit))
	}
	if err != nil {
		return nil, controller.Malformed(err.Error())
	}
	return body, nil
}

func (s *Server) invokeAction(w *responseWriter, r *http.Request, req *request, fqn whisk.FQN) error {
	q := r.URL.Query()
	blocking, err := boolParam(q, "blocking", false)
	if err != nil {
		return err
	}
	resultOnly, err := boolParam(q, "result", false)
	if err != nil {
		return err
	}
	wait, err := timeoutParam(q, s.maxBlockingWait)
	if err != nil {
		return err
	}
	// The payload limit applies to the body as sent; one without a length
	// is cut off just past the limit.
	body, err := s.readBody(w, r, s.maxPayload)
	if err != nil {
		return err
	}
	if err := checkObject(body); err != nil {
		return err
	}
	res, err := s.ctl.Invoke(r.Context(), req.id, controller.InvokeRequest{
		Action:        fqn,
		Args:          body,
		Blocking:      blocking,
		Wait:          wait,
		TransactionID: w.tid,
		APIKey:        req.apiKey,
	})
	if err != nil {
		return err
	}
	w.Header().Set("x-openwhisk-activation-id", res.ActivationID)
	if res.Activation == nil {
		writeRawJSON(w, http.StatusAccepted, activationIDBody(res.ActivationID))
		return nil
	}
	writeActivation(w, res.Activation, resultOnly)
	return nil
}

// writeActivation answers a blocking invoke with its activation (spec §3.3):
// 200 for success, 502 for the function's failures, 500 for the platform's;
// the whole record, or with resultOnly just its result. An array result is
// answered as the array itself.
func writeActivation(w http.ResponseWriter, act *whisk.Activation, resultOnly bool) {
	status := http.StatusOK
	switch act.Response.StatusCode {
	case whisk.StatusSuccess:
	case whisk.StatusApplicationError, whisk.StatusDeveloperError:
		status = http.StatusBadGateway
	default:
		status = http.StatusInternalServerError
	}
	result := bytes.TrimSpace(act.Response.Result)
	switch {
	case len(result) > 0 && result[0] == '[':
		writeRawJSON(w, status, result)
	case resultOnly:
		if len(result) == 0 {
			result = []byte("{}")
		}
		writeRawJSON(w, status, result)
	default:
		writeRawJSON(w, status, encodeActivation(nil, act))
	}
}

// checkObject accepts an empty body or a JSON object: OpenWhisk's invoke
// arguments.
func checkObject(body []byte) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	if !json.Valid(trimmed) {
		var v any
		return controller.Malformed(decodeDetail(json.Unmarshal(trimmed, &v)))
	}
	if trimmed[0] != '{' {
		return controller.Malformed("JSON object expected")
	}
	return nil
}

func activationIDBody(id string) []byte {
	b := make([]byte, 0, len(id)+18)
	b = append(b, `{"activationId":"`...)
	b = append(b, id...)
	return append(b, `"}`...)
}
