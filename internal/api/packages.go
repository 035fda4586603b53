package api

import (
	"encoding/json"
	"net/http"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// Packages and bindings (spec §6).

func (s *Server) listPackages(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	ctx := r.Context()
	return listEntities(w, r, "packages",
		func(skip int) (int, error) { return s.ctl.CountPackages(ctx, req.id, ns, skip) },
		func(page controller.Page) (any, error) { return s.ctl.ListPackages(ctx, req.id, ns, page) })
}

// pkg serves GET, PUT and DELETE of one package or binding.
func (s *Server) pkg(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := entityName(name); err != nil {
		return err
	}
	switch r.Method {
	case http.MethodPut:
		overwrite, err := boolParam(r.URL.Query(), "overwrite", false)
		if err != nil {
			return err
		}
		body, err := s.readBody(w, r, s.cfg.MaxEntityBytes)
		if err != nil {
			return err
		}
		put := new(whisk.PackagePut)
		if err := json.Unmarshal(body, put); err != nil {
			return controller.Malformed(decodeDetail(err))
		}
		p, err := s.ctl.PutPackage(r.Context(), req.id, ns, name, put, overwrite)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, p)
	case http.MethodDelete:
		force, err := boolParam(r.URL.Query(), "force", false)
		if err != nil {
			return err
		}
		p, err := s.ctl.DeletePackage(r.Context(), req.id, ns, name, force)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, p)
	default:
		p, err := s.ctl.GetPackage(r.Context(), req.id, ns, name)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, p)
	}
}
