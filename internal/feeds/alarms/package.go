package alarms

import (
	"encoding/json"

	"github.com/gustfaas/gust/internal/catalog"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// PackageName is the package's name in whisk.system.
const PackageName = "alarms"

// FeedActions are the package's feed actions, by name.
var FeedActions = []string{kindCron, kindOnce, kindInterval}

// ActionFQN names a feed action, as RegisterBuiltin wants it.
func ActionFQN(name string) whisk.FQN {
	return whisk.FQN{Namespace: catalog.Namespace, Package: PackageName, Name: name}
}

// Package is /whisk.system/alarms as the alarms service's installCatalog.sh
// makes it: published, with its descriptions and documented parameters,
// apihost and an empty trigger_payload as package parameters, and the once
// and interval actions told apart by a parameter. Its actions are built-in:
// register Feed for each (ActionFQN) before they are invoked.
func Package(apiHost string) catalog.Package {
	kv := func(pairs ...any) whisk.KeyValues {
		var out whisk.KeyValues
		for i := 0; i+1 < len(pairs); i += 2 {
			out = out.Set(pairs[i].(string), pairs[i+1])
		}
		return out
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	feed := func(name, description, params string, extra whisk.KeyValues) catalog.Action {
		return catalog.Action{
			Name: name, Kind: controller.KindBuiltin, Parameters: extra,
			Annotations: kv("description", description, "parameters", raw(params), "feed", true),
		}
	}
	return catalog.Package{
		Name:    PackageName,
		Publish: true,
		Annotations: kv("description", "Alarms and periodic utility",
			"parameters", raw(`[{"name":"trigger_payload","required":false}]`)),
		Parameters: kv("apihost", apiHost, "trigger_payload", ""),
		Actions: []catalog.Action{
			feed(kindCron, "Fire trigger when alarm occurs",
				`[{"name":"cron","required":true},{"name":"timezone","required":false},{"name":"startDate","required":false},{"name":"stopDate","required":false},{"name":"strict","required":false}]`,
				nil),
			feed(kindOnce, "Fire trigger once when alarm occurs",
				`[{"name":"date","required":true},{"name":"deleteAfterFire","required":false}]`,
				kv("fireOnce", true)),
			feed(kindInterval, "Fire trigger at specified interval",
				`[{"name":"minutes","required":true},{"name":"startDate","required":false},{"name":"stopDate","required":false}]`,
				kv("isInterval", true)),
		},
	}
}
