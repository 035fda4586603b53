package api

import (
	"net/http"

	"github.com/gustfaas/gust/internal/whisk"
)

func (s *Server) listActivations(w *responseWriter, r *http.Request, req *request) error {
	ns, err := namespace(r, req)
	if err != nil {
		return err
	}
	q, count, docs, err := activationListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	if count {
		n, err := s.ctl.CountActivations(r.Context(), req.id, ns, q)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]int{"activations": n})
	}
	acts, err := s.ctl.ListActivations(r.Context(), req.id, ns, q)
	if err != nil {
		return err
	}
	if docs {
		body := make([]byte, 0, 1024*len(acts)+2)
		body = append(body, '[')
		for i, act := range acts {
			if i > 0 {
				body = append(body, ',')
			}
			body = encodeActivation(body, act)
		}
		writeRawJSON(w, http.StatusOK, append(body, ']'))
		return nil
	}
	list := make([]activationSummary, len(acts))
	for i, act := range acts {
		list[i] = summarize(act)
	}
	return writeJSON(w, http.StatusOK, list)
}

// activation reads the activation a route names.
func (s *Server) activation(r *http.Request, req *request) (*whisk.Activation, error) {
	ns, err := namespace(r, req)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if err := checkActivationID(id); err != nil {
		return nil, err
	}
	return s.ctl.GetActivation(r.Context(), req.id, ns, id)
}

func (s *Server) getActivation(w *responseWriter, r *http.Request, req *request) error {
	act, err := s.activation(r, req)
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, encodeActivation(nil, act))
	return nil
}

func (s *Server) getActivationResult(w *responseWriter, r *http.Request, req *request) error {
	act, err := s.activation(r, req)
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, appendResponse(nil, &act.Response))
	return nil
}

func (s *Server) getActivationLogs(w *responseWriter, r *http.Request, req *request) error {
	act, err := s.activation(r, req)
	if err != nil {
		return err
	}
	logs := act.Logs
	if logs == nil {
		logs = []string{}
	}
	return writeJSON(w, http.StatusOK, struct {
		Logs []string `json:"logs"`
	}{logs})
}
