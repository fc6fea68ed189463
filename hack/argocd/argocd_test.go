package argocd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// dir is the customization of one kind, laid out as in Argo CD's resource_customizations.
var dir = filepath.Join("messenger-operator.io", "MessengerInstance")

// fixedNow is what os.date returns in actions, so that their outputs compare exactly.
const fixedNow = "2026-11-25T12:00:00Z"

type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

type actionTests struct {
	DiscoveryTests []struct {
		InputPath string `json:"inputPath"`
		Result    []struct {
			Name     string `json:"name"`
			Disabled bool   `json:"disabled"`
		} `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

// TestHealth runs health.lua on every case of health_test.yaml.
func TestHealth(t *testing.T) {
	var cases healthTests
	readYAML(t, filepath.Join(dir, "health_test.yaml"), &cases)
	if len(cases.Tests) == 0 {
		t.Fatal("health_test.yaml has no tests")
	}
	seen := map[string]bool{}
	for _, tc := range cases.Tests {
		t.Run(tc.InputPath, func(t *testing.T) {
			out := run(t, filepath.Join(dir, "health.lua"), filepath.Join(dir, tc.InputPath))
			status, _ := out["status"].(string)
			message, _ := out["message"].(string)
			seen[status] = true
			if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
				t.Errorf("got %s %q, want %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
			}
		})
	}
	for _, s := range []string{"Healthy", "Progressing", "Degraded"} {
		if !seen[s] {
			t.Errorf("no case gives %s", s)
		}
	}
}

// TestActions runs discovery.lua and each action of action_test.yaml.
func TestActions(t *testing.T) {
	adir := filepath.Join(dir, "actions")
	var cases actionTests
	readYAML(t, filepath.Join(adir, "action_test.yaml"), &cases)
	if len(cases.DiscoveryTests) == 0 || len(cases.ActionTests) == 0 {
		t.Fatal("action_test.yaml lacks discovery or action tests")
	}
	for _, tc := range cases.DiscoveryTests {
		t.Run("discovery "+tc.InputPath, func(t *testing.T) {
			out := run(t, filepath.Join(adir, "discovery.lua"), filepath.Join(adir, tc.InputPath))
			type action struct {
				Name     string
				Disabled bool
			}
			var got, want []action
			for name, v := range out {
				m, _ := v.(map[string]any)
				disabled, _ := m["disabled"].(bool)
				got = append(got, action{name, disabled})
			}
			for _, r := range tc.Result {
				want = append(want, action{r.Name, r.Disabled})
			}
			sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
			sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
			if !reflect.DeepEqual(got, want) {
				t.Errorf("actions %v, want %v", got, want)
			}
		})
	}
	for _, tc := range cases.ActionTests {
		t.Run(tc.Action+" "+tc.InputPath, func(t *testing.T) {
			got := run(t, filepath.Join(adir, tc.Action, "action.lua"), filepath.Join(adir, tc.InputPath))
			var want map[string]any
			readYAML(t, filepath.Join(adir, tc.ExpectedOutputPath), &want)
			if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
				t.Errorf("output differs from %s:\ngot  %v\nwant %v", tc.ExpectedOutputPath, got, want)
			}
		})
	}
}

// run executes script with the global obj set to the object in inputPath and returns what the
// script returned, converted to Go values.
func run(t *testing.T, script, inputPath string) map[string]any {
	t.Helper()
	var obj map[string]any
	readYAML(t, inputPath, &obj)
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath}, {lua.LoadLibName, lua.OpenPackage}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	// Only os.date, pinned: the actions need nothing else, and a fixed clock makes outputs exact.
	L.PreloadModule("os", func(L *lua.LState) int {
		mod := L.NewTable()
		L.SetField(mod, "date", L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LString(fixedNow))
			return 1
		}))
		L.Push(mod)
		return 1
	})
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoFile(script); err != nil {
		t.Fatalf("%s on %s: %v", script, inputPath, err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("%s returned %s, want a table", script, L.Get(-1).Type())
	}
	m, ok := fromLua(ret).(map[string]any)
	if !ok {
		t.Fatalf("%s returned a list, want a table", script)
	}
	return m
}

// toLua converts decoded YAML into Lua values as Argo CD does (objects and lists become tables).
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case map[string]any:
		tb := L.NewTable()
		for k, e := range x {
			tb.RawSetString(k, toLua(L, e))
		}
		return tb
	case []any:
		tb := L.NewTable()
		for _, e := range x {
			tb.Append(toLua(L, e))
		}
		return tb
	default:
		panic(fmt.Sprintf("unexpected YAML value %T", v))
	}
}

// fromLua converts a Lua value back: tables with keys 1..n become lists, others maps.
func fromLua(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x)
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return float64(x)
	case *lua.LTable:
		if n := x.MaxN(); n > 0 {
			list := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				list = append(list, fromLua(x.RawGetInt(i)))
			}
			return list
		}
		m := map[string]any{}
		x.ForEach(func(k, e lua.LValue) { m[k.String()] = fromLua(e) })
		return m
	default:
		return nil
	}
}

// normalize round-trips through YAML so that numbers compare equal whatever their Go type.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
