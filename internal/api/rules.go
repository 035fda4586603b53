package api

import (
	"net/http"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// Rules (spec §7.2): CRUD, list, enable and disable.

func (s *Server) listRules(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	ctx := r.Context()
	return listEntities(w, r, "rules",
		func(skip int) (int, error) { return s.ctl.CountRules(ctx, req.id, ns, skip) },
		func(page controller.Page) (any, error) { return s.ctl.ListRules(ctx, req.id, ns, page) })
}

// rule serves GET, PUT, DELETE and POST (enable, disable) of one rule.
func (s *Server) rule(w *responseWriter, r *http.Request, req *request) error {
	ns, name, err := nsEntity(r, req)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodPut:
		put := new(whisk.RulePut)
		overwrite, err := s.readPut(w, r, put)
		if err != nil {
			return err
		}
		rule, err := s.ctl.PutRule(r.Context(), req.id, ns, name, put, overwrite)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rule)
	case http.MethodDelete:
		rule, err := s.ctl.DeleteRule(r.Context(), req.id, ns, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rule)
	case http.MethodPost:
		body, err := s.readBody(w, r, s.cfg.MaxEntityBytes)
		if err != nil {
			return err
		}
		status, err := controller.ParseRuleStatus(body)
		if err != nil {
			return err
		}
		if err := s.ctl.SetRuleStatus(r.Context(), req.id, ns, name, status); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	default:
		rule, err := s.ctl.GetRule(r.Context(), req.id, ns, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, rule)
	}
}
