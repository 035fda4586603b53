package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/gustfaas/gust/internal/client"
)

// `gust api` is wsk's `api`: it exposes web actions as REST routes through
// the /whisk.system/apimgmt actions (spec §10), which Gust serves itself at
// /api/{namespace}/{base path}/{path}.

var apiVerbs = []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"}

func (a *app) newAPICmd() *cobra.Command {
	return group("api", "Expose web actions as REST APIs",
		a.newAPICreateCmd(), a.newAPIGetCmd(), a.newAPIDeleteCmd(), a.newAPIListCmd())
}

func validVerb(cmd *cobra.Command, verb string) (string, error) {
	v := strings.ToUpper(verb)
	for _, ok := range apiVerbs {
		if v == ok {
			return v, nil
		}
	}
	return "", usageError(cmd, "'%s' is not a valid API verb.  Valid values are: %s", verb, strings.Join(apiVerbs, ", "))
}

func mustBeginWithSlash(cmd *cobra.Command, path string) error {
	if !strings.HasPrefix(path, "/") {
		return usageError(cmd, "'%s' must begin with '/'.", path)
	}
	return nil
}

func (a *app) newAPICreateCmd() *cobra.Command {
	var apiName, configFile, responseType string
	cmd := &cobra.Command{
		Use:   "create ([BASE_PATH] API_PATH API_VERB ACTION | --config-file CFG_FILE)",
		Short: "Create a new API",
		Long: `Expose a web action as an operation of a REST API: requests with API_VERB to
BASE_PATH/API_PATH (BASE_PATH defaults to "/") run ACTION. Path segments in
braces, /books/{isbn}, match any value; they need --response-type http, and the
action sees the whole path in __ow_path. --config-file creates a whole API from
an OpenAPI 2.0 (swagger) file, JSON or YAML.`,
		Example: `  gust api create /club /books get getBooks --response-type http
  gust api create /club /books/{isbn} get getBook --response-type http
  gust api create -n "Book Club" /club /books post addBook
  gust api create --config-file club.json`,
		Args: argsBetween(0, 4, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			var doc *client.APIDoc
			switch {
			case len(args) == 0 && configFile == "":
				return usageError(cmd, "Invalid argument(s). Specify a swagger file or specify an API base path with an API path, an API verb, and an action name.")
			case len(args) == 0:
				if doc, err = swaggerDoc(configFile, c.Namespace()); err != nil {
					return &exitError{code: exitFailed, err: fmt.Errorf("unable to parse swagger file: %w", err)}
				}
			case len(args) < 3:
				return usageError(cmd, "Specify a swagger file or specify an API base path with an API path, an API verb, and an action name.")
			default:
				if doc, err = a.apiDocFromArgs(cmd, c, args, apiName, responseType); err != nil {
					return err
				}
			}
			var raw []byte
			api, err := c.CreateAPI(client.CaptureBody(cmd.Context(), &raw), doc, responseType)
			if err != nil {
				return failed(err, nil, "unable to create API")
			}
			return a.emit(raw, func(w io.Writer) error {
				base := strings.TrimSuffix(api.BaseURL, "/")
				if doc.Swagger == "" {
					a.ok("created API %s %s for action %s", strings.TrimSuffix(doc.GatewayBasePath, "/")+doc.GatewayRelPath,
						doc.GatewayMethod, a.bold("/"+doc.Action.Namespace+"/"+doc.Action.Name))
					fmt.Fprintln(w, base+doc.GatewayRelPath)
					return nil
				}
				for _, op := range operations(api, "", "") {
					if name := op.x.ActionName(); name != "" {
						a.ok("created API %s %s for action %s", strings.TrimSuffix(api.Swagger.BasePath, "/")+op.path, op.verb, a.bold(name))
					} else {
						a.ok("created API %s %s", strings.TrimSuffix(api.Swagger.BasePath, "/")+op.path, op.verb)
					}
					fmt.Fprintln(w, base+op.path)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&apiName, "apiname", "n", "", "friendly `NAME` of the API; ignored when CFG_FILE is given (default BASE_PATH)")
	fl.StringVarP(&configFile, "config-file", "c", "", "`CFG_FILE` holding the API configuration in swagger JSON or YAML")
	fl.StringVar(&responseType, "response-type", "json", "the web action response `TYPE`: html, http, json, text or svg")
	return cmd
}

// apiDocFromArgs makes the apidoc of `api create [BASE_PATH] API_PATH
// API_VERB ACTION` as wsk does, after checking that ACTION is a web action.
func (a *app) apiDocFromArgs(cmd *cobra.Command, c *client.Client, args []string, apiName, responseType string) (*client.APIDoc, error) {
	basePath := "/"
	if len(args) == 4 {
		if strings.HasPrefix(args[0], "/") {
			basePath = args[0]
		} else {
			if apiName != "" {
				return nil, usageError(cmd, "An API name can only be specified once.")
			}
			apiName = args[0]
		}
		if len(client.PathParameters(basePath)) > 0 {
			return nil, usageError(cmd, "The base path '%s' cannot have parameters. Only the relative path supports path parameters.", basePath)
		}
		args = args[1:]
	}
	relPath, verbArg, actionName := args[0], args[1], args[2]
	if err := mustBeginWithSlash(cmd, relPath); err != nil {
		return nil, err
	}
	params := client.PathParameters(relPath)
	if len(params) > 0 && strings.ToLower(responseType) != "http" {
		return nil, usageError(cmd, "A response type of 'http' is required when using path parameters.")
	}
	verb, err := validVerb(cmd, verbArg)
	if err != nil {
		return nil, err
	}
	name, err := c.ParseName(actionName)
	if err != nil {
		return nil, usageError(cmd, "'%s' is not a valid action name: %v", actionName, err)
	}
	act, err := c.GetAction(cmd.Context(), actionName, false)
	if err != nil {
		return nil, failed(err, map[int]string{404: "`gust action list` shows the actions"}, "unable to get action %q", actionName)
	}
	if !act.Annotations.IsTruthy(annotWebExport) {
		return nil, &exitError{code: exitFailed,
			err:  fmt.Errorf("Action '%s' is not a web action. Issue 'gust action update \"%s\" --web true' to convert the action to a web action.", actionName, actionName), //nolint:staticcheck // wsk's message
			hint: fmt.Sprintf("`gust action update %s --web true` makes it one", actionName)}
	}
	entity := name.Name
	if name.Package != "" {
		entity = name.Package + "/" + name.Name
	}
	doc := &client.APIDoc{
		Namespace:       c.Namespace(),
		APIName:         apiName,
		GatewayBasePath: basePath,
		GatewayRelPath:  relPath,
		GatewayMethod:   verb,
		Action: &client.APIAction{
			Name: entity, Namespace: name.Namespace, BackendMethod: verb,
			BackendURL: c.WebActionURL(name, "http"),
		},
		PathParameters: params,
	}
	if len(args) == 3 && strings.HasPrefix(basePath, "/") {
		doc.ID = "API:" + doc.Namespace + ":" + basePath
	}
	var secret any
	if raw := act.Annotations.Get(annotWebSecure); raw != nil && json.Unmarshal(raw, &secret) == nil {
		if b, isBool := secret.(bool); !isBool || b {
			doc.Action.SecureKey = secret
		}
	}
	return doc, nil
}

// swaggerDoc reads an API configuration file (JSON, or YAML by extension).
func swaggerDoc(file, namespace string) (*client.APIDoc, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(file, ".yaml") || strings.HasSuffix(file, ".yml") {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		if data, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	var sw client.Swagger
	if err := json.Unmarshal(data, &sw); err != nil {
		return nil, err
	}
	if sw.BasePath == "" || sw.Swagger == "" || sw.Info.Title == "" || sw.Paths == nil {
		return nil, errors.New("Swagger file is invalid (missing basePath, info, paths, or swagger fields)") //nolint:staticcheck // wsk's message
	}
	if !strings.HasPrefix(sw.BasePath, "/") {
		return nil, errors.New("Swagger file basePath must start with a leading slash (/)") //nolint:staticcheck // wsk's message
	}
	return &client.APIDoc{Namespace: namespace, Swagger: string(data)}, nil
}

func (a *app) newAPIGetCmd() *cobra.Command {
	var full bool
	var format string
	cmd := &cobra.Command{
		Use:   "get BASE_PATH | API_NAME",
		Short: "Show an API's configuration",
		Long: `Print an API's OpenAPI 2.0 (swagger) document; --full prints the API's whole
configuration, its URL included.`,
		Args: argsBetween(1, 1, "An API base path or API name is required."),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := strings.ToLower(format)
			if cmd.Flags().Changed("format") && f != "json" && f != "yaml" {
				return usageError(cmd, "Invalid format type: %s", format)
			}
			c, err := a.client(true)
			if err != nil {
				return err
			}
			var body []byte
			apis, err := c.GetAPIs(client.CaptureBody(cmd.Context(), &body), args[0], client.ListOptions{})
			if err != nil {
				return failed(err, nil, "unable to get API '%s'", args[0])
			}
			if len(apis) == 0 {
				if strings.HasPrefix(args[0], "/") {
					return &exitError{code: exitFailed, err: fmt.Errorf("API does not exist for basepath %s", args[0])}
				}
				return &exitError{code: exitFailed, err: fmt.Errorf("API does not exist for API name %s", args[0])}
			}
			// Printed as the server sent it, not as this client models it.
			var answer struct {
				APIs []struct {
					Value json.RawMessage `json:"value"`
				} `json:"apis"`
			}
			if err := json.Unmarshal(body, &answer); err != nil || len(answer.APIs) == 0 {
				return fmt.Errorf("unexpected getApi answer: %s", body)
			}
			raw := answer.APIs[0].Value
			if !full {
				var value struct {
					APIDoc json.RawMessage `json:"apidoc"`
				}
				_ = json.Unmarshal(raw, &value)
				raw = value.APIDoc
			}
			if f == "yaml" || a.g.output == "yaml" {
				return writeYAML(a.stdout, raw)
			}
			return writeJSON(a.stdout, raw)
		},
	}
	cmd.Flags().BoolVarP(&full, "full", "f", false, "display the API's full configuration")
	cmd.Flags().StringVar(&format, "format", "json", "output `TYPE`: json or yaml")
	return cmd
}

func (a *app) newAPIDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete BASE_PATH | API_NAME [API_PATH [API_VERB]]",
		Short: "Delete an API, one of its paths or one operation",
		Args:  argsBetween(1, 3, "An API base path or API name is required.  An optional API relative path and operation may also be provided."),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := client.APIOptions{BasePath: args[0]}
			if len(args) > 1 {
				if err := mustBeginWithSlash(cmd, args[1]); err != nil {
					return err
				}
				opts.RelPath = args[1]
			}
			if len(args) > 2 {
				verb, err := validVerb(cmd, args[2])
				if err != nil {
					return err
				}
				opts.Operation = verb
			}
			c, err := a.client(true)
			if err != nil {
				return err
			}
			var raw []byte
			if err := c.DeleteAPI(client.CaptureBody(cmd.Context(), &raw), opts); err != nil {
				return failed(err, nil, "unable to delete API")
			}
			return a.emit(raw, func(io.Writer) error {
				switch len(args) {
				case 1:
					a.ok("deleted API %s", opts.BasePath)
				case 2:
					a.ok("deleted %s from %s", opts.RelPath, opts.BasePath)
				default:
					a.ok("deleted %s %s from %s", opts.RelPath, opts.Operation, opts.BasePath)
				}
				return nil
			})
		},
	}
}

// apiOperation is one row of `api list`.
type apiOperation struct {
	action, verb, apiName, basePath, path, url string
	x                                          *client.SwaggerXOpenWhisk
}

// operations lists an API's operations, filtered by path and verb.
func operations(api *client.API, path, verb string) []apiOperation {
	var out []apiOperation
	if api.Swagger == nil {
		return nil
	}
	base := strings.TrimSuffix(api.BaseURL, "/")
	for p, ops := range api.Swagger.Paths {
		if path != "" && p != path {
			continue
		}
		for v, op := range ops {
			if verb != "" && !strings.EqualFold(v, verb) {
				continue
			}
			o := apiOperation{verb: v, apiName: api.Swagger.Info.Title, basePath: api.Swagger.BasePath, path: p, url: base + p}
			if op != nil {
				o.x = op.XOpenWhisk
				o.action = op.XOpenWhisk.ActionName()
			}
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.ToLower(out[i].basePath+out[i].path+out[i].verb) < strings.ToLower(out[j].basePath+out[j].path+out[j].verb)
	})
	return out
}

func (a *app) newAPIListCmd() *cobra.Command {
	var skip, limit int
	var nameSort, full bool
	cmd := &cobra.Command{
		Use:   "list [BASE_PATH | API_NAME [API_PATH [API_VERB]]]",
		Short: "List APIs and their operations",
		Args:  argsBetween(0, 3, "Optional parameters are: API base path (or API name), API relative path and operation."),
		RunE: func(cmd *cobra.Command, args []string) error {
			var base, path, verb string
			if len(args) > 0 {
				base = args[0]
			}
			if len(args) > 1 {
				if err := mustBeginWithSlash(cmd, args[1]); err != nil {
					return err
				}
				path = args[1]
			}
			if len(args) > 2 {
				v, err := validVerb(cmd, args[2])
				if err != nil {
					return err
				}
				verb = v
			}
			c, err := a.client(true)
			if err != nil {
				return err
			}
			var raw []byte
			apis, err := c.GetAPIs(client.CaptureBody(cmd.Context(), &raw), base, client.ListOptions{Skip: skip, Limit: limit})
			if err != nil {
				return failed(err, nil, "unable to obtain the API list")
			}
			var ops []apiOperation
			for i := range apis {
				ops = append(ops, operations(&apis[i], path, verb)...)
			}
			if nameSort {
				sort.SliceStable(ops, func(i, j int) bool {
					return strings.ToLower(ops[i].apiName+ops[i].path+ops[i].verb) < strings.ToLower(ops[j].apiName+ops[j].path+ops[j].verb)
				})
			}
			return a.emit(raw, func(w io.Writer) error {
				a.ok("APIs")
				if full {
					for _, o := range ops {
						fmt.Fprintf(w, "%s: %s\n  %s: %s\n  %s: %s\n  %s: %s\n  %s: %s\n  %s: %s\n",
							"Action", o.action, "API Name", o.apiName, "Base path", o.basePath, "Path", o.path, "Verb", o.verb, "URL", o.url)
					}
					return nil
				}
				t := newTable(w)
				t.row("Action", "Verb", "API Name", "URL")
				for _, o := range ops {
					t.row(o.action, o.verb, o.apiName, o.url)
				}
				return t.flush()
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&skip, "skip", "s", 0, "exclude the first `SKIP` APIs from the result")
	fl.IntVarP(&limit, "limit", "l", defaultPageSize, "list at most `LIMIT` APIs")
	fl.BoolVarP(&nameSort, "name-sort", "n", false, "sort by API name, path, then verb")
	fl.BoolVarP(&full, "full", "f", false, "display each operation in full")
	return cmd
}
