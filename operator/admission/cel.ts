// x-kubernetes-validations, evaluated as apiextensions-apiserver's schema/cel/validation.go does on
// create: each rule runs at the node that declares it with `self` bound to that node (per item for
// rules under `items`), on non-null values only; transition rules (oldSelf) are skipped because
// there is no old object. A failed rule is reported at the node's path plus the rule's fieldPath,
// as field.Invalid with the rule's message and, since Kubernetes 1.35, the value itself for
// scalars and no value at all for objects and arrays.
//
// duration(string) follows cel-go: each duration(x) of a rule runs as
// duration(portcullisGoDuration(x)), which parses x with Go's time.ParseDuration and hands cel-js
// an exact "<n>ns", or fails with cel-go's conversion error.
import { type ASTNode, Environment, EvaluationError, type ParseResult } from "@marcbachmann/cel-js";
import { parseGoDuration } from "../api/go-duration.ts";
import {
  child,
  duplicate,
  type FieldError,
  forbidden,
  index,
  invalid,
  OMIT,
  required,
} from "./messages.ts";
import {
  isJsonObject,
  propertySchema,
  type SchemaNode,
  type ValidationRule,
} from "./structural.ts";

/** A rule ready to run. */
interface CompiledRule {
  readonly rule: ValidationRule;
  readonly program?: ParseResult;
  readonly messageProgram?: ParseResult;
  /** Why the rule (or its messageExpression) did not compile; reported like the API server does. */
  readonly compileError?: string;
  /** Rules that read oldSelf only run on update. */
  readonly transition: boolean;
  /** The rule's fieldPath as field path segments ("" when absent). */
  readonly fieldPath: string;
}

let environment: Environment | undefined;

/** The function each duration() argument goes through (no rule of a CRD can name it). */
const GO_DURATION = "portcullisGoDuration";

/**
 * What cel-go's duration(string) returns for a string time.ParseDuration refuses
 * (types.String.ConvertToType), whatever is wrong with it.
 */
const DURATION_CONVERSION_ERROR =
  "type conversion error from 'string' to 'google.protobuf.Duration'";

/** One CEL environment with `self` and the duration shim declared; created on first use. */
function celEnvironment(): Environment {
  environment ??= new Environment({ homogeneousAggregateLiterals: false })
    .registerVariable("self", "dyn")
    .registerFunction(`${GO_DURATION}(dyn): dyn`, goDurationArgument);
  return environment;
}

/**
 * A string for cel-js's duration(): Go's reading of it as an exact count of nanoseconds, or
 * cel-go's error. Anything else passes through, for duration() to refuse as it does.
 */
function goDurationArgument(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const nanoseconds = parseGoDuration(value);
  if (nanoseconds === undefined) throw new Error(DURATION_CONVERSION_ERROR);
  return `${nanoseconds}ns`;
}

/** The expression with the argument of every duration(x) call wrapped in GO_DURATION(x). */
function withGoDurations(expression: string, ast: ASTNode): string {
  const insertions: { at: number; text: string }[] = [];
  const visit = (node: ASTNode): void => {
    if (node.op === "call") {
      const [name, args] = node.args;
      const [argument] = args;
      if (name === "duration" && args.length === 1 && argument !== undefined) {
        insertions.push({ at: argument.range.start, text: `${GO_DURATION}(` });
        insertions.push({ at: argument.range.end, text: ")" });
      }
    }
    for (const child of astChildren(node.args)) visit(child);
  };
  visit(ast);
  // From the end, so that earlier offsets stay valid.
  insertions.sort((a, b) => b.at - a.at);
  let text = expression;
  for (const { at, text: inserted } of insertions) {
    text = text.slice(0, at) + inserted + text.slice(at);
  }
  return text;
}

/** The AST nodes among a node's arguments, at any depth of arrays (call arguments, map entries). */
function* astChildren(args: unknown): Generator<ASTNode> {
  if (Array.isArray(args)) {
    for (const arg of args) yield* astChildren(arg);
  } else if (args !== null && typeof args === "object" && "op" in args && "range" in args) {
    yield args as ASTNode;
  }
}

const compiledRules = new WeakMap<SchemaNode, readonly CompiledRule[]>();

/** The node's rules, parsed once per schema node and then cached. */
export function rulesOf(schema: SchemaNode): readonly CompiledRule[] {
  const cached = compiledRules.get(schema);
  if (cached) return cached;
  const rules = (schema["x-kubernetes-validations"] ?? []).map(compileRule);
  compiledRules.set(schema, rules);
  return rules;
}

function compileRule(rule: ValidationRule): CompiledRule {
  const transition = /\boldSelf\b/.test(rule.rule);
  const fieldPath = normalizeFieldPath(rule.fieldPath ?? "");
  try {
    const program = parseWithGoDurations(rule.rule);
    const messageProgram =
      rule.messageExpression !== undefined
        ? parseWithGoDurations(rule.messageExpression)
        : undefined;
    return { rule, program, ...(messageProgram ? { messageProgram } : {}), transition, fieldPath };
  } catch (error) {
    return { rule, compileError: errorText(error), transition, fieldPath };
  }
}

/** Parses an expression (a syntax error names the text as written), then its duration() shim. */
function parseWithGoDurations(expression: string): ParseResult {
  const { ast } = celEnvironment().parse(expression);
  return celEnvironment().parse(withGoDurations(expression, ast));
}

/**
 * Runs every rule below value (value's own included) and returns the failures. path is the
 * value's field path ("" at the object root).
 */
export function validateRules(
  value: unknown,
  schema: SchemaNode | undefined,
  path = "",
): FieldError[] {
  const errors: FieldError[] = [];
  walk(value, schema, path, errors);
  return errors;
}

function walk(
  value: unknown,
  schema: SchemaNode | undefined,
  path: string,
  errors: FieldError[],
): void {
  if (schema === undefined || value === null || value === undefined) return;
  const rules = rulesOf(schema);
  if (rules.length > 0) errors.push(...evaluateRules(rules, value, schema, path));
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) walk(item, schema.items, index(path, i), errors);
  } else if (isJsonObject(value)) {
    for (const [name, item] of Object.entries(value)) {
      walk(item, propertySchema(schema, name), child(path, name), errors);
    }
  }
}

function evaluateRules(
  rules: readonly CompiledRule[],
  value: unknown,
  schema: SchemaNode,
  path: string,
): FieldError[] {
  const errors: FieldError[] = [];
  const type = schema.type ?? "";
  const context = { self: toCel(value, schema) };
  for (const compiled of rules) {
    const { rule, program } = compiled;
    // Transition rules need the old object. (With optionalOldSelf the API server would run them
    // with oldSelf = optional.none(); cel-js is not set up for optionals, and no rule of ours
    // reads oldSelf.)
    if (compiled.transition) continue;
    if (program === undefined) {
      errors.push(invalid(path, type, `rule compile error: ${compiled.compileError ?? "unknown"}`));
      continue;
    }
    let result: unknown;
    try {
      result = program(context);
    } catch (error) {
      errors.push(
        invalid(path, type, `${celErrorText(error)} evaluating rule: ${ruleErrorString(rule)}`),
      );
      continue;
    }
    if (result === true) continue;
    const at = compiled.fieldPath === "" ? path : child(path, compiled.fieldPath);
    const detail = messageOf(compiled, context) ?? ruleMessageOrDefault(rule);
    const shown = type === "object" || type === "array" ? OMIT : value;
    errors.push(errorForReason(rule.reason, at, shown, detail));
  }
  return errors;
}

/** fieldErrorForReason. */
function errorForReason(
  reason: string | undefined,
  path: string,
  value: unknown,
  detail: string,
): FieldError {
  switch (reason) {
    case "FieldValueForbidden":
      return forbidden(path, detail);
    case "FieldValueRequired":
      return required(path, detail);
    case "FieldValueDuplicate":
      return duplicate(path, value);
    default:
      return invalid(path, value, detail);
  }
}

/** The messageExpression's text, or undefined when it fails (the API server then uses message). */
function messageOf(compiled: CompiledRule, context: { self: unknown }): string | undefined {
  if (compiled.messageProgram === undefined) return undefined;
  try {
    const text: unknown = compiled.messageProgram(context);
    if (typeof text !== "string") return undefined;
    const trimmed = text.trim();
    if (trimmed === "" || trimmed.includes("\n") || trimmed.length > 5 * 1024) return undefined;
    return trimmed;
  } catch {
    return undefined;
  }
}

function ruleMessageOrDefault(rule: ValidationRule): string {
  const message = rule.message?.trim() ?? "";
  return message !== "" ? message : `failed rule: ${ruleErrorString(rule)}`;
}

function ruleErrorString(rule: ValidationRule): string {
  const message = rule.message?.trim() ?? "";
  return message !== "" ? message : rule.rule.trim();
}

/**
 * A decoded value as the API server hands it to CEL: integers of `type: integer` fields are
 * CEL ints (BigInt here), so that `self.weight > 0` compares int with int.
 */
export function toCel(value: unknown, schema: SchemaNode | undefined): unknown {
  if (typeof value === "number" && schema?.type === "integer" && Number.isInteger(value)) {
    return BigInt(value);
  }
  if (Array.isArray(value)) return value.map((item) => toCel(item, schema?.items));
  if (isJsonObject(value)) {
    const converted: Record<string, unknown> = {};
    for (const [name, item] of Object.entries(value)) {
      converted[name] = toCel(item, propertySchema(schema, name));
    }
    return converted;
  }
  return value;
}

/** ".a.b" or "['a'].b" → "a.b", the way Child() joins the segments of a validated fieldPath. */
function normalizeFieldPath(fieldPath: string): string {
  const segments: string[] = [];
  const token = /\.([^.[\]]+)|\['((?:[^'\\]|\\.)*)'\]/g;
  for (const match of fieldPath.matchAll(token)) {
    segments.push(match[1] ?? (match[2] ?? "").replace(/\\(.)/g, "$1"));
  }
  return segments.join(".");
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0] ?? text;
}

/** cel-go's wording for the runtime errors cel-js reports differently. */
function celErrorText(error: unknown): string {
  // The shim leaves cel-js's own duration parser only strings it reads; should one still fail,
  // cel-go's words are the same for every bad duration.
  if (error instanceof EvaluationError && error.code === "invalid_duration") {
    return DURATION_CONVERSION_ERROR;
  }
  const text = errorText(error);
  const noSuchKey = /^No such key: (.*)$/.exec(text);
  if (noSuchKey) return `no such key: ${noSuchKey[1]}`;
  return text;
}
