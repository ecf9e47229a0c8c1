// Package deploy holds no Go code: its test checks the Prometheus rules and the Grafana
// dashboard beside it, without servers. They must parse, and every PromQL expression in them
// must name only metrics that exist: the connector's output (docs/telemetry.md §7), the
// components' own telemetry as the collector exports it, a few core collector metrics, and the
// recording rules themselves. promtool (make check-deploy) and a real Prometheus (the e2e
// tests) check the rest.
package deploy

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tasker-systems/otelcol-tasker/cmd/taskersim/sim"
)

// coreMetrics are collector-core metrics the dashboard uses, as a running otelcol-tasker
// v0.165.0 exposes them on its telemetry endpoint (counters without a _total suffix). The
// end-to-end tests check that Prometheus holds them after a run.
var coreMetrics = []string{"otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans", "otelcol_process_memory_rss"}

// healthMetrics are the other series the collector-health alerts read: Prometheus' own `up` of
// each scrape, and core collector metrics as otelcol-tasker v0.165.0 exposes them (the
// exporter's failure counter appears only once a send has failed, so the end-to-end tests
// cannot require it).
var healthMetrics = []string{"up", "otelcol_process_uptime", "otelcol_exporter_send_failed_spans"}

// knownMetrics returns every metric name an expression may use, and the recording rules.
func knownMetrics(t *testing.T, rules *ruleFile) map[string]string {
	t.Helper()
	known := map[string]string{}
	for _, m := range []string{sim.MetricTaskTransitions, sim.MetricStepTransitions, sim.MetricStepAttempts, sim.MetricInvalidTransitions,
		sim.MetricTaskInState, sim.MetricStepInState, sim.MetricTaskOldestInState, sim.MetricStepOldestInState} {
		known[m] = "connector output"
	}
	for _, h := range []string{sim.MetricTaskStateDuration, sim.MetricStepStateDuration, sim.MetricTaskCompletion, sim.MetricStepCompletion, sim.MetricStepAttemptCount} {
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			known[h+s] = "connector output"
		}
	}
	// The components' own telemetry: the headings of their mdatagen documentation. The
	// collector's Prometheus reader exposes these names as they are (its counters carry no
	// _total suffix; checked on a running collector and by the e2e tests).
	for _, doc := range []string{"../processor/taskerstate/documentation.md", "../connector/taskerstate/documentation.md"} {
		f, err := os.Open(doc)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "### "); ok && strings.HasPrefix(name, "otelcol_") {
				known[strings.TrimSpace(name)] = doc
				n++
			}
		}
		f.Close()
		if n == 0 {
			t.Fatalf("%s lists no metric", doc)
		}
	}
	for _, m := range slices.Concat(coreMetrics, healthMetrics) {
		known[m] = "collector core"
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = "recording rule"
			}
		}
	}
	return known
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(t *testing.T) *ruleFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("rules.yaml: %v", err)
	}
	if len(rf.Groups) == 0 {
		t.Fatal("rules.yaml has no group")
	}
	return &rf
}

var (
	// Grafana's variables: $__rate_interval, ${DS_PROMETHEUS}, $namespace. In a range they
	// stand for a duration; in a string they vanish with it.
	grafanaVar = regexp.MustCompile(`\$\{?\w+\}?`)
	stringLit  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	ranges     = regexp.MustCompile(`\[[^\]]*\]`)
	grouping   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	comment    = regexp.MustCompile(`#[^\n]*`)
	// A number or duration (consumed whole so that its unit is not read as a name), or a name.
	token      = regexp.MustCompile(`[0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*`)
	labelValue = regexp.MustCompile(`^\s*label_values\(\s*(?:(.+),)?\s*\w+\s*\)\s*$`)
)

var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
	"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true,
	"Inf": true, "NaN": true, "atan2": true,
}

// metricNames returns the metric names a PromQL expression selects: the identifiers that are
// neither functions (followed by a parenthesis) nor keywords, outside strings, label matchers,
// ranges and grouping clauses.
func metricNames(expr string) []string {
	if m := labelValue.FindStringSubmatch(expr); m != nil {
		expr = m[1]
	}
	s := comment.ReplaceAllString(expr, " ")
	s = grafanaVar.ReplaceAllString(s, "5m")
	s = stringLit.ReplaceAllString(s, `""`)
	s = matchers.ReplaceAllString(s, " ")
	s = ranges.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range token.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || promqlWords[tok] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue // a function or aggregation
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (a, b) (rate(x_total{a="b", c=~"$v"}[$__rate_interval])) / on (a) group_left () y offset 1h`: "x_total y",
		`histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m]))) > 1e3 and on (x) z`:                      "h_bucket z",
		`label_replace(sum(rate(a[5m])), "entity", "step", "", "") * 0 or vector(0)`:                         "a",
		`label_values(tasker_step_state_transitions_total, namespace)`:                                       "tasker_step_state_transitions_total",
		`label_values(namespace)`:           "",
		`ns:rec:rate5m{x="a}b"} > bool 0.5`: "ns:rec:rate5m",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// checkExpr reports an expression that names an unknown metric, or none at all.
func checkExpr(t *testing.T, where, expr string, known map[string]string) {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: names no metric: %s", where, expr)
	}
	for _, n := range names {
		if _, ok := known[n]; !ok {
			t.Errorf("%s: metric %q does not exist (expression %s)", where, n, expr)
		}
	}
}

func TestRulesNameOnlyMetricsThatExist(t *testing.T) {
	rules := loadRules(t)
	known := knownMetrics(t, rules)
	seen := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			where := g.Name + "/" + r.Record + r.Alert
			if (r.Record == "") == (r.Alert == "") {
				t.Errorf("%s: a rule is either a recording rule or an alert", where)
			}
			checkExpr(t, where, r.Expr, known)
			if r.Alert != "" {
				if seen[r.Alert] {
					t.Errorf("alert %s defined twice", r.Alert)
				}
				seen[r.Alert] = true
				if s := r.Labels["severity"]; s != "warning" && s != "info" && s != "critical" {
					t.Errorf("%s: severity %q", where, s)
				}
				if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
					t.Errorf("%s: needs a summary and a description", where)
				}
			}
		}
	}
}

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Datasource *datasource     `json:"datasource"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Panels     []panel     `json:"panels"`
	Targets    []struct {
		Datasource *datasource `json:"datasource"`
		Expr       string      `json:"expr"`
		RefID      string      `json:"refId"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "otelcol-tasker.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("otelcol-tasker.json: %v", err)
	}
	return &d
}

// DashboardExprs returns every PromQL expression of the dashboard: panel targets and the
// variables' queries, by where they are.
func dashboardExprs(t *testing.T, d *dashboard) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out["panel "+p.Title+" "+tg.RefID] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query: %v", v.Name, err)
		}
		out["variable "+v.Name] = q.Query
	}
	return out
}

const dsInput = "${DS_PROMETHEUS}"

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].Type != "datasource" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs must declare one Prometheus datasource input DS_PROMETHEUS: %+v", d.Inputs)
	}
	ids := map[int]string{}
	var walk func([]panel)
	graphs := 0
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, ok := ids[p.ID]; ok || p.ID == 0 {
				t.Errorf("panel %q: id %d missing or shared with %q", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				graphs++
				if p.Datasource == nil || p.Datasource.UID != dsInput {
					t.Errorf("panel %q: datasource %+v, want uid %s", p.Title, p.Datasource, dsInput)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != dsInput {
					t.Errorf("panel %q target %s: datasource %+v, want uid %s", p.Title, tg.RefID, tg.Datasource, dsInput)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if graphs < 10 {
		t.Errorf("only %d panels", graphs)
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != dsInput) {
			t.Errorf("variable %s: datasource %+v, want uid %s", v.Name, v.Datasource, dsInput)
		}
	}
}

func TestDashboardNamesOnlyMetricsThatExist(t *testing.T) {
	known := knownMetrics(t, loadRules(t))
	used := map[string]bool{}
	for where, expr := range dashboardExprs(t, loadDashboard(t)) {
		checkExpr(t, where, expr, known)
		for _, n := range metricNames(expr) {
			used[n] = true
		}
	}
	// The panels the architecture asks for: transitions by event, attempts by outcome, time in
	// state, completion, invalid transitions, and the collectors' health; and the live state's: live
	// entities and oldest age by state, steps' end-to-end time and attempts per step.
	for _, m := range []string{
		sim.MetricStepTransitions, sim.MetricTaskTransitions, sim.MetricStepAttempts, sim.MetricInvalidTransitions,
		sim.MetricStepStateDuration + "_bucket", sim.MetricTaskStateDuration + "_bucket", sim.MetricTaskCompletion + "_bucket",
		sim.MetricTaskInState, sim.MetricStepInState, sim.MetricTaskOldestInState, sim.MetricStepOldestInState,
		sim.MetricStepCompletion + "_bucket", sim.MetricStepAttemptCount + "_bucket",
		"otelcol_connector_tasker_state_tracked_entities", "otelcol_processor_tasker_state_tracked_entities",
		"otelcol_connector_tasker_state_entities_evicted", "otelcol_processor_tasker_state_evictions",
		"otelcol_connector_tasker_state_overflowed_points", "otelcol_connector_tasker_state_late_transitions",
		"otelcol_connector_tasker_state_out_of_order",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}
