// Evaluates a LoadBalancerPolicy's health the way the two GitOps tools do, for
// test/image/argocd-health.test.ts. The object is read as JSON from standard input; the verdict is
// printed as JSON.
//
//	health-eval argocd SCRIPT        Argo CD: the Lua script runs in gopher-lua (the Lua 5.1 VM Argo
//	                                 CD embeds) with the object as the global `obj`; prints the
//	                                 returned table's status and message.
//	health-eval flux EXPRS.json      Flux: a Kustomization's healthCheckExprs entry ({current,
//	                                 inProgress, failed}) evaluated as kustomize-controller does
//	                                 (fluxcd/pkg runtime/cel): same CEL environment, an
//	                                 observedGeneration that differs from metadata.generation is
//	                                 InProgress, then inProgress, failed, current in that order, and
//	                                 InProgress when none holds; prints the kstatus status, or the
//	                                 evaluation error (Flux then keeps waiting).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	lua "github.com/yuin/gopher-lua"
)

func main() {
	if len(os.Args) != 3 {
		fail(2, "usage: health-eval argocd SCRIPT | flux EXPRS.json  < OBJECT.json")
	}
	var obj map[string]interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&obj); err != nil {
		fail(2, err.Error())
	}
	var out interface{}
	switch os.Args[1] {
	case "argocd":
		out = argocd(os.Args[2], obj)
	case "flux":
		out = flux(os.Args[2], obj)
	default:
		fail(2, "unknown mode "+os.Args[1])
	}
	text, _ := json.Marshal(out)
	fmt.Println(string(text))
}

func fail(code int, message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(code)
}

// --- Argo CD ----------------------------------------------------------------------------------------

// toLua turns decoded JSON into Lua values: objects and arrays become tables, numbers LNumber
// (a float64, as every number is in gopher-lua).
func toLua(L *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		table := L.NewTable()
		for _, item := range v {
			table.Append(toLua(L, item))
		}
		return table
	case map[string]interface{}:
		table := L.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(L, item))
		}
		return table
	}
	panic(fmt.Sprintf("unexpected JSON value %T", value))
}

func argocd(script string, obj map[string]interface{}) map[string]string {
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoFile(script); err != nil {
		fail(1, err.Error())
	}
	result, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		fail(1, "the script did not return a table")
	}
	return map[string]string{
		"status":  lua.LVAsString(result.RawGetString("status")),
		"message": lua.LVAsString(result.RawGetString("message")),
	}
}

// --- Flux -------------------------------------------------------------------------------------------

type healthCheckExprs struct {
	Current    string `json:"current"`
	InProgress string `json:"inProgress"`
	Failed     string `json:"failed"`
}

// celEnv is the environment fluxcd/pkg runtime/cel parses healthCheckExprs in (parsed, not
// compiled: the object's top-level fields are resolved when evaluated).
func celEnv() *cel.Env {
	env, err := cel.NewEnv(
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Sets(),
		ext.Encoders(),
	)
	if err != nil {
		fail(1, err.Error())
	}
	return env
}

func evaluate(env *cel.Env, expr string, obj map[string]interface{}) (bool, error) {
	ast, issues := env.Parse(expr)
	if issues != nil && issues.Err() != nil {
		fail(1, fmt.Sprintf("parse %q: %s", expr, issues.Err()))
	}
	program, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.InterruptCheckFrequency(100))
	if err != nil {
		fail(1, err.Error())
	}
	value, _, err := program.Eval(obj)
	if err != nil {
		return false, err
	}
	result, ok := value.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%q is not a boolean", expr)
	}
	return bool(result), nil
}

func flux(exprsFile string, obj map[string]interface{}) map[string]string {
	text, err := os.ReadFile(exprsFile)
	if err != nil {
		fail(2, err.Error())
	}
	var exprs healthCheckExprs
	if err := json.Unmarshal(text, &exprs); err != nil {
		fail(2, err.Error())
	}
	if exprs.Current == "" {
		fail(2, "current is required")
	}
	if status, ok := obj["status"].(map[string]interface{}); ok {
		if observed, ok := status["observedGeneration"].(float64); ok {
			metadata, _ := obj["metadata"].(map[string]interface{})
			if generation, ok := metadata["generation"].(float64); ok && generation != observed {
				return map[string]string{"status": "InProgress"}
			}
		}
	}
	env := celEnv()
	for _, step := range []struct{ expr, status string }{
		{exprs.InProgress, "InProgress"},
		{exprs.Failed, "Failed"},
		{exprs.Current, "Current"},
	} {
		if step.expr == "" {
			continue
		}
		result, err := evaluate(env, step.expr, obj)
		if err != nil {
			return map[string]string{"error": err.Error()}
		}
		if result {
			return map[string]string{"status": step.status}
		}
	}
	return map[string]string{"status": "InProgress"}
}
