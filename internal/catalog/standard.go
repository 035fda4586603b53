package catalog

import (
	"encoding/json"

	"github.com/gustfaas/gust/internal/whisk"
)

// Standard returns the packages OpenWhisk's installSystem.sh puts in every
// installation, with its descriptions, documented parameters and samples:
// utils and samples, both published.
func Standard() []Package {
	return []Package{Utils(), Samples()}
}

// Utils is /whisk.system/utils: building blocks for sequences.
func Utils() Package {
	return Package{
		Name:        "utils",
		Publish:     true,
		Annotations: annotations("description", "Building blocks that format and assemble data"),
		Actions: []Action{
			{
				Name: "echo", Code: source("utils/echo.js"),
				Annotations: annotations(
					"description", "Returns the input",
					"parameters", raw(`[{"name": "payload", "required": false, "description": "Any JSON entity"}]`),
					"sampleInput", raw(`{"payload": "Five fuzzy felines"}`),
					"sampleOutput", raw(`{"payload": "Five fuzzy felines"}`)),
			},
			{
				Name: "cat", Code: source("utils/cat.js"),
				Annotations: annotations(
					"description", "Concatenates input into a string",
					"parameters", raw(`[{"name": "lines", "required": true, "type": "array", "description": "An array of strings or numbers"}]`),
					"sampleInput", raw(`{"lines": [4, 2, 3]}`),
					"sampleOutput", raw(`{"lines": [4, 2, 3]}`)),
			},
			{
				Name: "smash", Code: source("utils/smash.js"),
				Annotations: annotations(
					"description", "Nests all properties under given property",
					"parameters", raw(`[{"name": "$fieldName", "required": true, "type": "string", "description": "Name of property to nest object under"}]`),
					"sampleInput", raw(`{"a": 1, "b": {"c": 2, "d": 3}, "$fieldName": "p"}`),
					"sampleOutput", raw(`{"p": {"a": 1, "b": {"c": 2, "d": 3}}}`)),
			},
			{
				Name: "split", Code: source("utils/split.js"),
				Annotations: annotations(
					"description", "Split a string into an array",
					"parameters", raw(`[{"name": "payload", "required": true, "description": "A string"}, {"name": "separator", "required": false, "description": "The character, or the regular expression, to use for splitting the string"}]`),
					"sampleInput", raw(`{"payload": "one,two,three", "separator": ","}`),
					"sampleOutput", raw(`{"lines": ["one", "two", "three"], "payload": "one,two,three"}`)),
			},
			{
				Name: "sort", Code: source("utils/sort.js"),
				Annotations: annotations(
					"description", "Sorts an array",
					"parameters", raw(`[{"name": "lines", "required": true, "type": "array", "description": "An array of strings"}]`),
					"sampleInput", raw(`{"lines": [4, 2, 3]}`),
					"sampleOutput", raw(`{"lines": [2, 3, 4], "length": 3}`)),
			},
			{
				Name: "head", Code: source("utils/head.js"),
				Annotations: annotations(
					"description", "Extract prefix of an array",
					"parameters", raw(`[{"name": "lines", "required": true, "type": "array", "description": "An array of strings"}, {"name": "num", "required": false, "type": "integer", "description": "The length of the prefix"}]`),
					"sampleInput", raw(`{"lines": [4, 2, 3], "num": 2}`),
					"sampleOutput", raw(`{"lines": [4, 2], "num": 2}`)),
			},
			{
				Name: "date", Code: source("utils/date.js"),
				Annotations: annotations(
					"description", "Current date and time",
					"sampleOutput", raw(`{"date": "2016-03-22T00:59:55.961Z"}`)),
			},
			{
				Name: "namespace", Code: source("utils/namespace.js"),
				Annotations: annotations(
					"description", "Returns namespace for the authorization key used to invoke this action",
					"sampleOutput", raw(`{"namespace": "guest"}`)),
			},
			{
				Name: "hosturl", Code: source("utils/hosturl.js"),
				Annotations: annotations(
					"description", "Returns the URL to activate an action or trigger",
					"parameters", raw(`[{"name": "web", "type": "boolean", "description": "True for web actions"}, {"name": "ext", "type": "string", "description": "Extension for web action, one of .html, .http, .json, .text"}, {"name": "trigger", "type": "boolean", "description": "True to construct path for trigger instead of action."}, {"name": "path", "type": "string", "description": "The action name as just <action name> or <package name>/<action name>."}]`),
					"sampleInput", raw(`{"web": true, "path": "utils/echo"}`),
					"sampleOutput", raw(`{"url": "https://openwhisk.ng.bluemix.net/api/v1/web/guest/utils/echo"}`)),
			},
		},
	}
}

// Samples is /whisk.system/samples: the actions of OpenWhisk's getting
// started guides.
func Samples() Package {
	return Package{
		Name:        "samples",
		Publish:     true,
		Annotations: annotations("description", "A suite of simple actions to help you get started with OpenWhisk"),
		Actions: []Action{
			{
				Name: "helloWorld", Code: source("samples/hello.js"),
				Annotations: annotations(
					"description", "Demonstrates logging facilities",
					"parameters", raw(`[{"name": "payload", "required": false, "description": "The string to be included in the log record"}]`),
					"sampleInput", raw(`{"payload": "Cat"}`),
					"sampleOutput", raw(`{}`),
					"sampleLogOutput", "2016-03-22T01:02:26.387624916Z stdout: hello Cat!"),
			},
			{
				Name: "greeting", Code: source("samples/greeting.js"),
				Annotations: annotations(
					"description", "Returns a friendly greeting",
					"parameters", raw(`[{"name": "name", "required": false}, {"name": "place", "required": false, "description": "The string to be included in the return value"}]`),
					"sampleInput", raw(`{"payload": "Cat", "place": "Narrowsburg"}`),
					"sampleOutput", raw(`{"payload": "Hello, Cat from Narrowsburg!"}`),
					"sampleLogOutput", "2016-03-22T01:07:08.384982272Z stdout: params: { place: 'Narrowsburg', payload: 'Cat' }"),
			},
			{
				Name: "wordCount", Code: source("samples/wordcount.js"),
				Annotations: annotations(
					"description", "Count words in a string",
					"parameters", raw(`[{"name": "payload", "required": true, "description": "A string"}]`),
					"sampleInput", raw(`{"payload": "Five fuzzy felines"}`),
					"sampleOutput", raw(`{"count": 3}`),
					"sampleLogOutput", "2016-03-22T01:10:07.361649586Z stdout: The message 'Five fuzzy felines' has 3 words"),
			},
		},
	}
}

// annotations builds key/values from alternating keys and values; a value
// is marshalled as JSON unless it is raw JSON already.
func annotations(pairs ...any) whisk.KeyValues {
	kv := whisk.KeyValues{}
	for i := 0; i+1 < len(pairs); i += 2 {
		kv = kv.Set(pairs[i].(string), pairs[i+1])
	}
	return kv
}

// raw is a JSON literal, checked when the catalog is built.
func raw(s string) json.RawMessage {
	if !json.Valid([]byte(s)) {
		panic("catalog: invalid JSON literal " + s)
	}
	return json.RawMessage(s)
}
