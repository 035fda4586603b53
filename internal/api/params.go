package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// Query parameters are read as OpenWhisk's akka-http directives read them,
// with the same rejection texts.

const (
	defaultListLimit = 30
	maxListLimit     = 200
)

// boolParam reads a boolean query parameter; akka accepts true/false,
// yes/no, on/off and 1/0.
func boolParam(q url.Values, name string, def bool) (bool, error) {
	if !q.Has(name) {
		return def, nil
	}
	switch v := strings.ToLower(q.Get(name)); v {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	default:
		return false, controller.MalformedQuery(name, fmt.Sprintf("'%s' is not a valid Boolean value", q.Get(name)))
	}
}

// pageParams reads limit and skip of a list of collection: limit 0 means the
// maximum, more than the maximum is an error.
func pageParams(q url.Values, collection string) (controller.Page, error) {
	page := controller.Page{Limit: defaultListLimit}
	if q.Has("skip") {
		v := q.Get("skip")
		n, err := strconv.Atoi(v)
		if err != nil {
			return page, controller.MalformedQuery("skip", controller.ArgumentNotInteger(collection, v))
		}
		if n < 0 {
			return page, controller.MalformedQuery("skip", controller.ListSkipOutOfRange(collection, n))
		}
		page.Skip = n
	}
	if q.Has("limit") {
		v := q.Get("limit")
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return page, controller.MalformedQuery("limit", controller.ArgumentNotInteger(collection, v))
		case n == 0:
			page.Limit = maxListLimit
		case n > 0 && n <= maxListLimit:
			page.Limit = n
		default:
			return page, controller.MalformedQuery("limit", controller.ListLimitOutOfRange(collection, n, maxListLimit))
		}
	}
	return page, nil
}

// epochParam reads since or upto (epoch milliseconds).
func epochParam(q url.Values, name string) (int64, error) {
	if !q.Has(name) {
		return 0, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, controller.MalformedQuery(name, controller.BadEpoch(v))
	}
	return n, nil
}

// nameFilter reads the activation list's name: "action" or "pkg/action".
func nameFilter(q url.Values) (string, error) {
	v := q.Get("name")
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	parts := strings.Split(v, "/")
	if len(parts) > 2 {
		return "", controller.MalformedQuery("name", controller.BadNameFilter(v))
	}
	for _, p := range parts {
		if !whisk.ValidName(p) {
			return "", controller.MalformedQuery("name", controller.BadNameFilter(v))
		}
	}
	return v, nil
}

// activationListQuery reads the query of GET …/activations.
func activationListQuery(q url.Values) (aq controller.ActivationQuery, count, docs bool, err error) {
	if aq.Page, err = pageParams(q, "activations"); err != nil {
		return
	}
	if count, err = boolParam(q, "count", false); err != nil {
		return
	}
	if docs, err = boolParam(q, "docs", false); err != nil {
		return
	}
	if aq.Name, err = nameFilter(q); err != nil {
		return
	}
	if aq.Since, err = epochParam(q, "since"); err != nil {
		return
	}
	if aq.Upto, err = epochParam(q, "upto"); err != nil {
		return
	}
	if count && docs {
		err = whisk.BadRequest(controller.MsgDocsWithCount)
	}
	return
}

// timeoutParam reads the blocking wait of an invocation: 1..max ms.
func timeoutParam(q url.Values, max time.Duration) (time.Duration, error) {
	if !q.Has("timeout") {
		return max, nil
	}
	n, err := strconv.Atoi(q.Get("timeout"))
	if err != nil || n <= 0 || int64(n) > max.Milliseconds() {
		return 0, controller.MalformedQuery("timeout",
			fmt.Sprintf("Timeout must be number of milliseconds up to %d.", max.Milliseconds()))
	}
	return time.Duration(n) * time.Millisecond, nil
}

// checkActivationID validates an activation id path segment.
func checkActivationID(id string) error {
	if len(id) != 32 {
		return whisk.BadRequest("%s", controller.ActivationIDLength(len(id)))
	}
	if !whisk.ValidActivationID(id) {
		return whisk.BadRequest(controller.MsgActivationIDBad)
	}
	return nil
}

// listEntities answers a collection's list route: a page of it, or with
// ?count=true OpenWhisk's {"<collection>": n}.
func listEntities(w *responseWriter, r *http.Request, collection string,
	count func(skip int) (int, error), list func(controller.Page) (any, error)) error {
	q := r.URL.Query()
	page, err := pageParams(q, collection)
	if err != nil {
		return err
	}
	counting, err := boolParam(q, "count", false)
	if err != nil {
		return err
	}
	if counting {
		n, err := count(page.Skip)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]int{collection: n})
	}
	items, err := list(page)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items)
}

// readPut reads a PUT of an entity whose body may be empty (a trigger, a
// rule) into put, and its ?overwrite.
func (s *Server) readPut(w *responseWriter, r *http.Request, put any) (overwrite bool, err error) {
	if overwrite, err = boolParam(r.URL.Query(), "overwrite", false); err != nil {
		return false, err
	}
	body, err := s.readBody(w, r, s.cfg.MaxEntityBytes)
	if err != nil {
		return false, err
	}
	return overwrite, decodeOptional(body, put)
}

// decodeOptional decodes a request body into v; an empty body leaves v as
// it is (a PUT that changes nothing).
func decodeOptional(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return controller.Malformed(decodeDetail(err))
	}
	return nil
}
