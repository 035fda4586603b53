package api

import (
	"net/http"
	"strings"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// Triggers (spec §7.1): CRUD, list and fire.

// nsEntity reads {ns} and {name} of a trigger or rule route.
func nsEntity(r *http.Request, req *request) (ns, name string, err error) {
	if ns, err = namespace(r, req); err != nil {
		return "", "", err
	}
	name = r.PathValue("name")
	return ns, name, entityName(name)
}

func (s *Server) listTriggers(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	ctx := r.Context()
	return listEntities(w, r, "triggers",
		func(skip int) (int, error) { return s.ctl.CountTriggers(ctx, req.id, ns, skip) },
		func(page controller.Page) (any, error) { return s.ctl.ListTriggers(ctx, req.id, ns, page) })
}

// trigger serves GET, PUT, DELETE and POST (fire) of one trigger.
func (s *Server) trigger(w *responseWriter, r *http.Request, req *request) error {
	ns, name, err := nsEntity(r, req)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodPut:
		put := new(whisk.TriggerPut)
		overwrite, err := s.readPut(w, r, put)
		if err != nil {
			return err
		}
		t, err := s.ctl.PutTrigger(r.Context(), req.id, ns, name, put, overwrite)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, t)
	case http.MethodDelete:
		t, err := s.ctl.DeleteTrigger(r.Context(), req.id, ns, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, t)
	case http.MethodPost:
		return s.fireTrigger(w, r, req, ns, name)
	default:
		t, err := s.ctl.GetTrigger(r.Context(), req.id, ns, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, t)
	}
}

// fireTrigger answers 202 with the trigger activation's id, or 204 without
// a body when no rule is active (nothing was recorded).
func (s *Server) fireTrigger(w *responseWriter, r *http.Request, req *request, ns, name string) error {
	body, err := s.readBody(w, r, s.maxPayload)
	if err != nil {
		return err
	}
	if err := checkObject(body); err != nil {
		return err
	}
	id, err := s.ctl.FireTrigger(r.Context(), req.id, ns, name, controller.FireRequest{
		Payload:       body,
		Headers:       forwardedHeaders(r.Header),
		TransactionID: w.tid,
		APIKey:        req.apiKey,
	})
	if err != nil {
		return err
	}
	if id == "" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	w.Header().Set("x-openwhisk-activation-id", id)
	writeRawJSON(w, http.StatusAccepted, activationIDBody(id))
	return nil
}

// forwardedHeaders are a fire request's headers as the rules' actions see
// them in __ow_headers: names lower-cased, repeated values joined. The
// credentials stay behind: an action gets the caller's key only through
// provide-api-key, never through its arguments.
func forwardedHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		name := strings.ToLower(k)
		if name == "authorization" {
			continue
		}
		out[name] = strings.Join(vs, ", ")
	}
	return out
}
