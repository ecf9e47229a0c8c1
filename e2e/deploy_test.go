//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// The deploy/ files the stack's Prometheus loads and the test queries.
const (
	rulesFile     = "../deploy/prometheus/rules.yaml"
	dashboardFile = "../deploy/grafana/otelcol-tasker.json"
)

// coreMetrics are the collector-core metrics the dashboard uses (deploy/deploy_test.go keeps
// the same list); they must be in Prometheus after a run.
var coreMetrics = []string{"otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans", "otelcol_process_memory_rss"}

type promRule struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // recording or alerting
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"` // alerts: inactive, pending or firing
	Query     string `json:"query"`
}

type promRuleGroup struct {
	Name  string     `json:"name"`
	File  string     `json:"file"`
	Rules []promRule `json:"rules"`
}

func (p *promAPI) rules(ctx context.Context) ([]promRuleGroup, error) {
	var r struct {
		Data struct {
			Groups []promRuleGroup `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(ctx, p.base+"/api/v1/rules", &r); err != nil {
		return nil, err
	}
	return r.Data.Groups, nil
}

// ruleGroupNames reads the group names of rules.yaml (each `  - name:` at group level), to
// prove that Prometheus loaded all of them.
func ruleGroupNames(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if n, ok := strings.CutPrefix(line, "  - name: "); ok {
			names = append(names, strings.TrimSpace(n))
		}
	}
	sort.Strings(names)
	return names
}

// checkDeployRules asserts, after a run whose metrics matched the ground truth, that every
// group of deploy/prometheus/rules.yaml loaded and evaluates with health "ok", that every
// recording rule returns data (unless it is over metrics of which the ground truth has no
// series: truthExpectsData), and that no collector-health alert is active on a healthy run.
func checkDeployRules(ctx context.Context, t *testing.T, prom *promAPI, truth *sim.Truth) {
	want := ruleGroupNames(t)
	if len(want) == 0 {
		t.Fatalf("%s: no rule group found", rulesFile)
	}
	var groups []promRuleGroup
	var recording, alerts []promRule
	err := eventually(ctx, 30*time.Second, time.Second, func() error {
		var err error
		if groups, err = prom.rules(ctx); err != nil {
			return err
		}
		var got, problems []string
		recording, alerts = nil, nil
		for _, g := range groups {
			got = append(got, g.Name)
			for _, r := range g.Rules {
				if r.Health != "ok" {
					problems = append(problems, fmt.Sprintf("%s/%s: health %q %s", g.Name, r.Name, r.Health, r.LastError))
				}
				if r.Type == "recording" {
					recording = append(recording, r)
				} else {
					alerts = append(alerts, r)
				}
			}
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("Prometheus loaded rule groups %v, %s has %v", got, rulesFile, want)
		}
		if len(problems) > 0 {
			return fmt.Errorf("rules not healthy:\n  %s", strings.Join(problems, "\n  "))
		}
		// Every recording rule has data: the tasker_* ones from the connector's output, the
		// otelcol_* one from the collector's own telemetry.
		for _, r := range recording {
			res, err := prom.query(ctx, "count("+r.Name+")")
			if err != nil {
				return err
			}
			if (len(res) == 0 || res[0].value == 0) && truthExpectsData(truth, r.Query) {
				return fmt.Errorf("recording rule %s returns no data", r.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The collectors were healthy: nothing evicted at capacity, no overflow, nothing late,
	// dropped or unrecognised. (The Tasker alerts may be pending: the run injects faults.)
	for _, a := range alerts {
		if strings.HasPrefix(a.Name, "TaskerState") && a.State != "inactive" {
			t.Errorf("alert %s is %s on a healthy collector", a.Name, a.State)
		}
	}
	t.Logf("%d rule groups loaded; %d recording rules return data; %d alerts evaluate", len(groups), len(recording), len(alerts))
}

// checkDashboard runs every query of deploy/grafana/otelcol-tasker.json against Prometheus,
// with Grafana's variables replaced (all values, a one-minute rate interval): each must be
// accepted, the panels on connector output must return data (unless the ground truth has no
// series of a metric they show: truthExpectsData), and the core collector metrics the
// dashboard uses must exist.
func checkDashboard(ctx context.Context, t *testing.T, prom *promAPI, truth *sim.Truth) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$__rate_interval", "1m", "$namespace", ".*", "$instance", ".*", "$step_state", ".*")
	queries, withData := 0, 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q := vars.Replace(tg.Expr)
			if strings.Contains(q, "$") {
				t.Errorf("panel %q %s: a variable the test does not know: %s", p.Title, tg.RefID, q)
				continue
			}
			res, err := prom.query(ctx, q)
			if err != nil {
				t.Errorf("panel %q %s: %v", p.Title, tg.RefID, err)
				continue
			}
			queries++
			if len(res) > 0 {
				withData++
			} else if (strings.Contains(q, "tasker_step_") || strings.Contains(q, "tasker_task_")) && truthExpectsData(truth, q) {
				t.Errorf("panel %q %s returns no data after the run: %s", p.Title, tg.RefID, q)
			}
		}
	}
	for _, m := range coreMetrics {
		res, err := prom.query(ctx, "count("+m+")")
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			t.Errorf("the dashboard uses %s, which Prometheus does not hold", m)
		}
	}
	t.Logf("%d dashboard queries accepted, %d with data", queries, withData)
}
