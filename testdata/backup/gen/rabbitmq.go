package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// edX's Celery queues and the exchanges they are bound to.
var celeryQueues = []struct{ exchange, queue string }{
	{"edx.lms.core", "edx.lms.core.default"},
	{"edx.lms.core", "edx.lms.core.high"},
	{"edx.lms.core", "edx.lms.core.high_mem"},
	{"edx.cms.core", "edx.cms.core.default"},
	{"edx.cms.core", "edx.cms.core.high"},
}

// exportRabbitMQ creates the production vhost, its users and its objects on
// the local broker, exports the broker's full definitions, keeps what
// belongs to the vhost (users and permissions included: restore must not
// import those), and removes everything it created.
func exportRabbitMQ(mgmtURL, mgmtUser, mgmtPassword, vhost, out string) error {
	api, err := rabbithole.NewClient(mgmtURL, mgmtUser, mgmtPassword)
	if err != nil {
		return fmt.Errorf("management client: %w", err)
	}
	users := []struct{ name, password, tags string }{
		{vhost, "celery-prod-not-a-real-password", ""},
		{"edx_ops_admin", "ops-prod-not-a-real-password", "administrator"},
	}
	cleanup := func() {
		api.DeleteVhost(vhost)
		for _, u := range users {
			api.DeleteUser(u.name)
		}
	}
	cleanup()
	defer cleanup()
	steps := []func() (*http.Response, error){
		func() (*http.Response, error) {
			return api.PutVhost(vhost, rabbithole.VhostSettings{Description: "edX Celery broker (residential, live)", Tags: rabbithole.VhostTags{"celery"}})
		},
		func() (*http.Response, error) {
			return api.PutPolicy(vhost, "edx-queue-length-limit", rabbithole.Policy{Pattern: `^edx\.`, ApplyTo: "queues", Priority: 1,
				Definition: rabbithole.PolicyDefinition{"max-length": 1000000, "overflow": "reject-publish"}})
		},
	}
	for _, u := range users {
		steps = append(steps,
			func() (*http.Response, error) {
				tags := rabbithole.UserTags{}
				if u.tags != "" {
					tags = rabbithole.UserTags{u.tags}
				}
				return api.PutUser(u.name, rabbithole.UserSettings{Password: u.password, Tags: tags})
			},
			func() (*http.Response, error) {
				return api.UpdatePermissionsIn(vhost, u.name, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"})
			})
	}
	for _, ex := range []struct{ name, kind string }{{"edx.lms.core", "direct"}, {"edx.cms.core", "direct"}, {"celeryev", "topic"}} {
		steps = append(steps, func() (*http.Response, error) {
			return api.DeclareExchange(vhost, ex.name, rabbithole.ExchangeSettings{Type: ex.kind, Durable: true})
		})
	}
	for _, q := range celeryQueues {
		steps = append(steps,
			func() (*http.Response, error) {
				return api.DeclareQueue(vhost, q.queue, rabbithole.QueueSettings{Durable: true, Arguments: map[string]any{"x-queue-type": "classic"}})
			},
			func() (*http.Response, error) {
				return api.DeclareBinding(vhost, rabbithole.BindingInfo{Source: q.exchange, Destination: q.queue,
					DestinationType: "queue", RoutingKey: q.queue, Arguments: map[string]any{}})
			})
	}
	for i, step := range steps {
		resp, err := step()
		if err != nil {
			return fmt.Errorf("create rabbitmq object %d in %s: %w", i, vhost, err)
		}
		resp.Body.Close()
	}

	req, err := http.NewRequest("GET", mgmtURL+"/api/definitions", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(mgmtUser, mgmtPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("export definitions: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("export definitions: status %d: %v", resp.StatusCode, err)
	}
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		return fmt.Errorf("parse definitions: %w", err)
	}
	keep := map[string]bool{}
	for _, u := range users {
		keep[u.name] = true
	}
	inVhost := func(key, field string, also func(map[string]any) bool) {
		list, _ := all[key].([]any)
		out := []any{}
		for _, item := range list {
			m, _ := item.(map[string]any)
			if m == nil {
				continue
			}
			if (field == "" || m[field] == vhost) && (also == nil || also(m)) {
				out = append(out, m)
			}
		}
		all[key] = out
	}
	inVhost("vhosts", "name", nil)
	inVhost("users", "", func(m map[string]any) bool { return keep[fmt.Sprint(m["name"])] })
	inVhost("permissions", "vhost", func(m map[string]any) bool { return keep[fmt.Sprint(m["user"])] })
	inVhost("topic_permissions", "vhost", func(m map[string]any) bool { return keep[fmt.Sprint(m["user"])] })
	inVhost("parameters", "vhost", nil)
	inVhost("policies", "vhost", nil)
	inVhost("queues", "vhost", nil)
	inVhost("exchanges", "vhost", nil)
	inVhost("bindings", "vhost", nil)
	// global_parameters carry the local broker's cluster name and id: keep
	// the shape, not this machine's values.
	all["global_parameters"] = []any{
		map[string]any{"name": "cluster_name", "value": "rabbit@mq-prod-1.residential.example.edu"},
		map[string]any{"name": "internal_cluster_id", "value": "rabbitmq-cluster-id-residential-live"},
	}
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(data, '\n'), 0o644)
}
