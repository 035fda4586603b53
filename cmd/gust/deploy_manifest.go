package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gustfaas/gust/internal/whisk"
)

// The manifest is wskdeploy's (apache/openwhisk-wskdeploy specification):
// project → packages → actions, sequences, triggers, rules and apis. Fields
// wskdeploy knows but gust deploy does not use (outputs, dependencies,
// include/exclude, ...) are ignored, as YAML decoding ignores unknown keys.
type manifestFile struct {
	Project  *manifestProject            `yaml:"project"`
	Packages map[string]*manifestPackage `yaml:"packages"`
	Package  *manifestPackage            `yaml:"package"` // the older one-package form, with a name
}

type manifestProject struct {
	Name     string                      `yaml:"name"`
	Packages map[string]*manifestPackage `yaml:"packages"`
}

type manifestPackage struct {
	Name        string                                          `yaml:"name"`
	Inputs      map[string]any                                  `yaml:"inputs"`
	Annotations map[string]any                                  `yaml:"annotations"`
	Public      bool                                            `yaml:"public"`
	Actions     map[string]*manifestAction                      `yaml:"actions"`
	Sequences   map[string]*manifestSequence                    `yaml:"sequences"`
	Triggers    map[string]*manifestTrigger                     `yaml:"triggers"`
	Rules       map[string]*manifestRule                        `yaml:"rules"`
	APIs        map[string]map[string]map[string]map[string]any `yaml:"apis"`
}

type manifestAction struct {
	Function    string          `yaml:"function"`
	Location    string          `yaml:"location"` // the older name of function
	Code        string          `yaml:"code"`     // inline code
	Runtime     string          `yaml:"runtime"`
	Kind        string          `yaml:"kind"`
	Main        string          `yaml:"main"`
	Docker      string          `yaml:"docker"`
	Native      bool            `yaml:"native"`
	Inputs      map[string]any  `yaml:"inputs"`
	Annotations map[string]any  `yaml:"annotations"`
	Limits      *manifestLimits `yaml:"limits"`
	WebExport   any             `yaml:"web-export"`
	Web         any             `yaml:"web"`
	WebSecure   any             `yaml:"web-secure"`
}

type manifestLimits struct {
	Timeout     *int `yaml:"timeout"`
	Memory      *int `yaml:"memorySize"`
	Logs        *int `yaml:"logSize"`
	Concurrency *int `yaml:"concurrentActivations"`
}

type manifestSequence struct {
	Actions     string         `yaml:"actions"`
	Annotations map[string]any `yaml:"annotations"`
	Web         any            `yaml:"web"`
	WebExport   any            `yaml:"web-export"`
}

type manifestTrigger struct {
	Feed        string         `yaml:"feed"`
	Source      string         `yaml:"source"` // wskdeploy's older name of feed
	Inputs      map[string]any `yaml:"inputs"`
	Annotations map[string]any `yaml:"annotations"`
}

type manifestRule struct {
	Trigger     string         `yaml:"trigger"`
	Action      string         `yaml:"action"`
	Annotations map[string]any `yaml:"annotations"`
}

// The action limits a deploy sends when the manifest gives none: the
// server's defaults, so that a limit removed from the manifest goes back to
// its default instead of keeping the old value.
var defaultActionLimits = whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}

// annotManaged marks what a deploy made, with wskdeploy's key and shape
// ({"projectName", "projectDeps", "file"}), so that later deploys and
// undeploy know which entities belong to the project. wskdeploy also keeps a
// hash of the whole manifest there; gust does not, as it would make every
// entity differ whenever any line of the manifest changes.
const annotManaged = "whisk-managed"

// manifestDefaultPackage is wskdeploy's name for "no package".
const manifestDefaultPackage = "default"

// Entity kinds, in the order they are created.
const (
	entPackage  = "package"
	entAction   = "action"
	entSequence = "sequence"
	entTrigger  = "trigger"
	entRule     = "rule"
	entAPI      = "api"
)

var entityOrder = map[string]int{entPackage: 0, entAction: 1, entSequence: 2, entTrigger: 3, entRule: 4, entAPI: 5}

// desiredEntity is one entity as the manifest wants it.
type desiredEntity struct {
	kind string
	name string // "pkg/a" or "a" for actions; the API's "/base/rel VERB"

	params      whisk.KeyValues
	annotations whisk.KeyValues // what the manifest sets, with the managed annotation

	exec      *whisk.Exec // actions and sequences
	limits    whisk.Limits
	webSecret bool // web-secure: true, a random secret kept across deploys
	source    string

	feed string // triggers

	trigger, action string // rules; the API's action

	apiName, basePath, relPath, verb, response string
}

// deployment is a parsed manifest.
type deployment struct {
	project  string
	file     string
	entities []*desiredEntity
}

// loadManifest reads and resolves a manifest: code paths relative to it, $ENV
// values substituted. project, when set, overrides the manifest's name.
func loadManifest(path, project string) (*deployment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var mf manifestFile
	if err := yaml.Unmarshal(data, &mf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pkgs := mf.Packages
	name := ""
	if mf.Project != nil {
		name = interpolate(mf.Project.Name)
		if len(mf.Project.Packages) > 0 {
			pkgs = mf.Project.Packages
		}
	}
	if mf.Package != nil {
		if mf.Package.Name == "" {
			return nil, fmt.Errorf("%s: package: needs a name", path)
		}
		pkgs = map[string]*manifestPackage{mf.Package.Name: mf.Package}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%s: the manifest declares no packages", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if project != "" {
		name = project
	}
	if name == "" {
		// A manifest without a project: gust new writes these. The directory
		// names the project, so that its entities can still be tracked.
		name = filepath.Base(filepath.Dir(abs))
	}
	d := &deployment{project: name, file: filepath.Base(path)}
	b := &manifestBuilder{d: d, dir: filepath.Dir(abs), managed: managedValue(name, d.file)}
	for _, pn := range sortedKeys(pkgs) {
		if err := b.addPackage(pn, pkgs[pn]); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(d.entities, func(i, j int) bool {
		ei, ej := d.entities[i], d.entities[j]
		if entityOrder[ei.kind] != entityOrder[ej.kind] {
			return entityOrder[ei.kind] < entityOrder[ej.kind]
		}
		return ei.name < ej.name
	})
	return d, nil
}

func managedValue(project, file string) map[string]any {
	return map[string]any{"projectName": project, "projectDeps": []any{}, "file": file}
}

type manifestBuilder struct {
	d       *deployment
	dir     string
	managed map[string]any
	seen    map[string]bool
	webAPIs map[string]bool // actions an API calls: they must be web actions
}

func (b *manifestBuilder) add(e *desiredEntity) error {
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	// Actions, packages, triggers and rules share one name space per path.
	key := e.name
	if e.kind == entAPI {
		key = "api " + e.name
	} else if e.kind == entPackage {
		key = "package " + e.name
	}
	if b.seen[key] {
		return fmt.Errorf("%s %q is declared twice", e.kind, e.name)
	}
	b.seen[key] = true
	e.annotations = e.annotations.Set(annotManaged, b.managed)
	b.d.entities = append(b.d.entities, e)
	return nil
}

// qualify names an action of the manifest: a bare name is in the package
// that declares it; "pkg/a" and "/ns/..." are kept.
func qualify(pkg, name string) string {
	name = strings.TrimSpace(interpolate(name))
	if strings.HasPrefix(name, "/") || strings.Contains(name, "/") || pkg == "" {
		return name
	}
	return pkg + "/" + name
}

func (b *manifestBuilder) addPackage(pn string, p *manifestPackage) error {
	if p == nil {
		p = &manifestPackage{}
	}
	pkg := pn
	if pn == manifestDefaultPackage {
		pkg = ""
	}
	if pkg != "" {
		params, err := manifestInputs(p.Inputs)
		if err != nil {
			return fmt.Errorf("package %s: %w", pn, err)
		}
		annots, err := manifestAnnotations(p.Annotations)
		if err != nil {
			return fmt.Errorf("package %s: %w", pn, err)
		}
		if err := b.add(&desiredEntity{kind: entPackage, name: pkg, params: params, annotations: annots}); err != nil {
			return err
		}
	}
	// The APIs first: the actions they call are made web actions.
	apis, err := b.apis(pkg, p.APIs)
	if err != nil {
		return fmt.Errorf("package %s: %w", pn, err)
	}
	for _, an := range sortedKeys(p.Actions) {
		if err := b.addAction(pkg, an, p.Actions[an]); err != nil {
			return fmt.Errorf("action %s: %w", qualify(pkg, an), err)
		}
	}
	for _, sn := range sortedKeys(p.Sequences) {
		s := p.Sequences[sn]
		if s == nil || strings.TrimSpace(s.Actions) == "" {
			return fmt.Errorf("sequence %s: needs actions", qualify(pkg, sn))
		}
		var comps []string
		for _, c := range strings.Split(s.Actions, ",") {
			comps = append(comps, qualify(pkg, c))
		}
		annots, err := manifestAnnotations(s.Annotations)
		if err != nil {
			return fmt.Errorf("sequence %s: %w", qualify(pkg, sn), err)
		}
		if annots, err = b.web(qualify(pkg, sn), annots, firstSet(s.WebExport, s.Web), nil); err != nil {
			return fmt.Errorf("sequence %s: %w", qualify(pkg, sn), err)
		}
		e := &desiredEntity{kind: entSequence, name: qualify(pkg, sn), annotations: annots, limits: defaultActionLimits,
			exec: &whisk.Exec{Kind: whisk.KindSequence, Components: comps}}
		if err := b.add(e); err != nil {
			return err
		}
	}
	for _, tn := range sortedKeys(p.Triggers) {
		t := p.Triggers[tn]
		if t == nil {
			t = &manifestTrigger{}
		}
		params, err := manifestInputs(t.Inputs)
		if err != nil {
			return fmt.Errorf("trigger %s: %w", tn, err)
		}
		annots, err := manifestAnnotations(t.Annotations)
		if err != nil {
			return fmt.Errorf("trigger %s: %w", tn, err)
		}
		feed := interpolate(firstString(t.Feed, t.Source))
		e := &desiredEntity{kind: entTrigger, name: tn, feed: feed, params: params, annotations: annots}
		if err := b.add(e); err != nil {
			return err
		}
		if feed != "" {
			m := map[string]any{"feedInputs": inputsHash(params)}
			for k, v := range b.managed {
				m[k] = v
			}
			e.annotations = e.annotations.Set(annotManaged, m)
		}
	}
	for _, rn := range sortedKeys(p.Rules) {
		r := p.Rules[rn]
		if r == nil || r.Trigger == "" || r.Action == "" {
			return fmt.Errorf("rule %s: needs a trigger and an action", rn)
		}
		annots, err := manifestAnnotations(r.Annotations)
		if err != nil {
			return fmt.Errorf("rule %s: %w", rn, err)
		}
		e := &desiredEntity{kind: entRule, name: rn, trigger: interpolate(r.Trigger), action: qualify(pkg, r.Action), annotations: annots}
		if err := b.add(e); err != nil {
			return err
		}
	}
	for _, e := range apis {
		if err := b.add(e); err != nil {
			return err
		}
	}
	return nil
}

// apis reads apiName → basePath → relativePath → action → {method,
// response} (or the short form action: METHOD).
func (b *manifestBuilder) apis(pkg string, m map[string]map[string]map[string]map[string]any) ([]*desiredEntity, error) {
	var out []*desiredEntity
	for _, apiName := range sortedKeys(m) {
		for _, base := range sortedKeys(m[apiName]) {
			for _, rel := range sortedKeys(m[apiName][base]) {
				for _, act := range sortedKeys(m[apiName][base][rel]) {
					verb, response := "", "http"
					switch v := m[apiName][base][rel][act].(type) {
					case string:
						verb = v
					case map[string]any:
						verb, _ = v["method"].(string)
						if r, ok := v["response"].(string); ok && r != "" {
							response = r
						}
					}
					verb = strings.ToUpper(strings.TrimSpace(verb))
					if !contains(apiVerbs, verb) {
						return nil, fmt.Errorf("api %s %s/%s: method must be one of %s, not %q", apiName, base, rel, strings.Join(apiVerbs, ", "), verb)
					}
					bp, rp := "/"+strings.Trim(base, "/"), "/"+strings.Trim(rel, "/")
					action := qualify(pkg, act)
					if b.webAPIs == nil {
						b.webAPIs = map[string]bool{}
					}
					b.webAPIs[action] = true
					out = append(out, &desiredEntity{kind: entAPI, name: bp + rp + " " + verb, apiName: apiName,
						basePath: bp, relPath: rp, verb: verb, action: action, response: strings.ToLower(response)})
				}
			}
		}
	}
	return out, nil
}

func (b *manifestBuilder) addAction(pkg, an string, a *manifestAction) error {
	if a == nil {
		return errors.New("needs a function")
	}
	name := qualify(pkg, an)
	params, err := manifestInputs(a.Inputs)
	if err != nil {
		return err
	}
	annots, err := manifestAnnotations(a.Annotations)
	if err != nil {
		return err
	}
	f := &actionFlags{kind: interpolate(firstString(a.Runtime, a.Kind)), main: a.Main, docker: interpolate(a.Docker), native: a.Native}
	var exec *whisk.Exec
	source := interpolate(firstString(a.Function, a.Location))
	switch {
	case a.Code != "":
		if f.kind == "" {
			return errors.New("inline code needs a runtime")
		}
		code := a.Code
		exec = &whisk.Exec{Kind: f.kind, Code: &code, Main: f.main}
	case source == "" && f.docker == "":
		return errors.New("needs a function (a code file or directory)")
	default:
		if source != "" && !filepath.IsAbs(source) {
			source = filepath.Join(b.dir, source)
		}
		if f.docker != "" && f.kind != "" {
			f.kind = "" // wskdeploy's docker wins over runtime
		}
		if exec, err = execFor(source, f); err != nil {
			return err
		}
	}
	limits := defaultActionLimits
	if l := a.Limits; l != nil {
		for _, p := range []struct {
			src *int
			dst *int
		}{{l.Timeout, &limits.Timeout}, {l.Memory, &limits.Memory}, {l.Logs, &limits.Logs}, {l.Concurrency, &limits.Concurrency}} {
			if p.src != nil {
				*p.dst = *p.src
			}
		}
	}
	e := &desiredEntity{kind: entAction, name: name, exec: exec, params: params, limits: limits, source: source}
	if e.annotations, err = b.web(name, annots, firstSet(a.WebExport, a.Web), a.WebSecure); err != nil {
		return err
	}
	e.webSecret = e.annotations.IsTruthy(annotWebSecure) && string(e.annotations.Get(annotWebSecure)) == "true"
	return b.add(e)
}

// web adds the annotations of web-export (or of an API calling the action)
// and web-secure, as `gust action create --web --web-secure` writes them.
func (b *manifestBuilder) web(name string, annots whisk.KeyValues, web, secure any) (whisk.KeyValues, error) {
	mode := ""
	if web != nil {
		mode = fmt.Sprint(web)
	} else if b.webAPIs[name] && !annots.Has(annotWebExport) {
		mode = "true"
	}
	if mode != "" {
		w, err := webAnnotations(mode)
		if err != nil {
			return nil, err
		}
		annots = annots.Merge(w)
	}
	if secure != nil {
		if !annots.IsTruthy(annotWebExport) {
			return nil, errors.New("web-secure is valid only for a web action: add web-export: true")
		}
		switch s := fmt.Sprint(secure); strings.ToLower(s) {
		case "false":
		case "true":
			annots = annots.Set(annotWebSecure, true) // replaced by a random secret when deployed
		default:
			annots = annots.Set(annotWebSecure, interpolate(s))
		}
	}
	return annots, nil
}

// manifestInputs reads wskdeploy's inputs: a plain value, a type name alone
// (the type's zero value), or {type, value, default, description}.
func manifestInputs(in map[string]any) (whisk.KeyValues, error) {
	var out whisk.KeyValues
	for _, k := range sortedKeys(in) {
		v, err := inputValue(in[k])
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", k, err)
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", k, err)
		}
		out = append(out, whisk.KeyValue{Key: k, Value: raw})
	}
	return out, nil
}

var zeroOfType = map[string]any{"string": "", "integer": 0, "float": 0.0, "boolean": false, "json": map[string]any{}, "password": ""}

var typedInputKeys = map[string]bool{"type": true, "value": true, "default": true, "description": true, "required": true}

func inputValue(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if z, ok := zeroOfType[x]; ok {
			return z, nil
		}
		return interpolate(x), nil
	case map[string]any:
		typed := len(x) > 0
		for k := range x {
			typed = typed && typedInputKeys[k]
		}
		if _, hasType := x["type"]; !typed || (!hasType && x["value"] == nil && x["default"] == nil) {
			return interpolateAll(x), nil
		}
		val, ok := x["value"]
		if !ok || val == nil {
			val, ok = x["default"]
		}
		if !ok || val == nil {
			t, _ := x["type"].(string)
			z, known := zeroOfType[t]
			if !known {
				return nil, fmt.Errorf("unknown type %q (string, integer, float, boolean or json)", t)
			}
			return z, nil
		}
		return interpolateAll(val), nil
	}
	return interpolateAll(v), nil
}

func manifestAnnotations(in map[string]any) (whisk.KeyValues, error) {
	var out whisk.KeyValues
	for _, k := range sortedKeys(in) {
		raw, err := json.Marshal(interpolateAll(in[k]))
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %w", k, err)
		}
		out = append(out, whisk.KeyValue{Key: k, Value: raw})
	}
	return out, nil
}

var envRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|^\$([A-Za-z_][A-Za-z0-9_]*)$`)

// interpolate substitutes environment variables as wskdeploy does: a value
// that is "$NAME" as a whole, and ${NAME} anywhere.
func interpolate(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return envRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := envRE.FindStringSubmatch(m)
		return os.Getenv(sub[1] + sub[2])
	})
}

func interpolateAll(v any) any {
	switch x := v.(type) {
	case string:
		return interpolate(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = interpolateAll(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = interpolateAll(e)
		}
		return out
	}
	return v
}

// inputsHash fingerprints a feed trigger's inputs, which go to the feed and
// are not stored on the trigger, so that a change to them is seen.
func inputsHash(kv whisk.KeyValues) string {
	m := map[string]json.RawMessage{}
	for _, p := range kv {
		m[p.Key] = p.Value
	}
	data, _ := json.Marshal(m) // sorted keys
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstSet(vs ...any) any {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}
