// Offline admission of networking.k8s.io/v1 Ingresses: strict decoding, then the part of
// pkg/apis/networking/validation (ValidateIngressCreate) that decides whether Portcullis can
// route an Ingress: metadata, hosts, paths per pathType, backends, TLS hosts and Secret names,
// the class. Ingresses have no defaults in networking.k8s.io/v1.

import { isIP } from "node:net";
import type { V1Ingress } from "@kubernetes/client-node";
import { cloneJson } from "../api/json.ts";
import { decodeAs, type GoType, normalizeNulls, OBJECT_META } from "./decode.ts";
import {
  child,
  type FieldError,
  index,
  invalid,
  notSupported,
  required,
  unknownField,
} from "./messages.ts";
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  isValidPathSegmentName,
  isValidPortName,
  isValidPortNum,
  isWildcardDNS1123Subdomain,
  validateObjectMeta,
} from "./names.ts";
import { isJsonObject, type JsonObject } from "./structural.ts";
import type { AdmissionResult } from "./types.ts";

const string: GoType = { kind: "string" };
const int32: GoType = { kind: "int32" };

const BACKEND: GoType = {
  kind: "struct",
  name: "IngressBackend",
  fields: {
    service: {
      kind: "struct",
      name: "IngressServiceBackend",
      fields: {
        name: string,
        port: {
          kind: "struct",
          name: "ServiceBackendPort",
          fields: { name: string, number: int32 },
        },
      },
    },
    resource: {
      kind: "struct",
      name: "TypedLocalObjectReference",
      fields: { apiGroup: string, kind: string, name: string },
    },
  },
};

/** networking.k8s.io/v1 Ingress, as JSON decoding sees it. */
const INGRESS: GoType = {
  kind: "struct",
  name: "Ingress",
  fields: {
    apiVersion: string,
    kind: string,
    metadata: OBJECT_META,
    spec: {
      kind: "struct",
      name: "IngressSpec",
      fields: {
        ingressClassName: string,
        defaultBackend: BACKEND,
        tls: {
          kind: "slice",
          elem: {
            kind: "struct",
            name: "IngressTLS",
            fields: { hosts: { kind: "slice", elem: string }, secretName: string },
          },
        },
        rules: {
          kind: "slice",
          elem: {
            kind: "struct",
            name: "IngressRule",
            fields: {
              host: string,
              http: {
                kind: "struct",
                name: "HTTPIngressRuleValue",
                fields: {
                  paths: {
                    kind: "slice",
                    elem: {
                      kind: "struct",
                      name: "HTTPIngressPath",
                      fields: { path: string, pathType: string, backend: BACKEND },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    status: {
      kind: "struct",
      name: "IngressStatus",
      fields: {
        loadBalancer: {
          kind: "struct",
          name: "IngressLoadBalancerStatus",
          fields: {
            ingress: {
              kind: "slice",
              elem: {
                kind: "struct",
                name: "IngressLoadBalancerIngress",
                fields: {
                  ip: string,
                  hostname: string,
                  ports: {
                    kind: "slice",
                    elem: {
                      kind: "struct",
                      name: "IngressPortStatus",
                      fields: { port: int32, protocol: string, error: string },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

const ANNOTATION_INGRESS_CLASS = "kubernetes.io/ingress.class";
/** sets.String.List() order: sorted. */
const SUPPORTED_PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"];
const INVALID_PATH_SEQUENCES = ["//", "/./", "/../", "%2f", "%2F"];
const INVALID_PATH_SUFFIXES = ["/..", "/."];

/**
 * Validates an Ingress as the API server does on create. The returned object is a deep copy
 * (networking.k8s.io/v1 defines no defaults for Ingress).
 */
export function admitIngress(obj: unknown): AdmissionResult<V1Ingress> {
  const object = isJsonObject(obj) ? cloneJson(obj) : {};
  const errors = validateIngress(obj);
  // Only a well-typed object is normalised (a type error refuses it anyway).
  if (errors.length === 0) normalizeNulls(object, INGRESS);
  return {
    object: object as V1Ingress,
    errors: errors.map(({ field, message }) => ({ field, message })),
  };
}

function validateIngress(obj: unknown): FieldError[] {
  if (!isJsonObject(obj)) {
    return [invalid("", obj ?? null, "an Ingress must be a JSON object")];
  }
  const decoded = decodeAs(obj, INGRESS);
  if (decoded.typeError) {
    const { field, message } = decoded.typeError;
    return [{ field, type: "FieldValueTypeInvalid", message }];
  }
  if (decoded.unknownFields.length > 0) return decoded.unknownFields.map(unknownField);

  const errors = validateObjectMeta(obj.metadata);
  const spec = record(obj.spec);
  errors.push(...validateSpec(spec, "spec"));
  const annotations = record(record(obj.metadata).annotations);
  const annotationClass = annotations[ANNOTATION_INGRESS_CLASS];
  if (typeof annotationClass === "string" && isSet(spec.ingressClassName)) {
    errors.push(
      invalid(
        child("annotations", ANNOTATION_INGRESS_CLASS),
        annotationClass,
        "can not be set when the class field is also set",
      ),
    );
  }
  return errors;
}

/** ValidateIngressSpec. */
function validateSpec(spec: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const rules = Array.isArray(spec.rules) ? spec.rules : [];
  if (rules.length === 0 && !isSet(spec.defaultBackend)) {
    // The value is the Go slice: null when absent, [] when empty.
    errors.push(
      invalid(path, spec.rules ?? null, "either `defaultBackend` or `rules` must be specified"),
    );
  }
  if (isSet(spec.defaultBackend)) {
    errors.push(...validateBackend(record(spec.defaultBackend), child(path, "defaultBackend")));
  }
  rules.forEach((rule, i) => {
    errors.push(...validateRule(record(rule), index(child(path, "rules"), i)));
  });
  const tls = Array.isArray(spec.tls) ? spec.tls : [];
  tls.forEach((entry, i) => {
    errors.push(...validateTLS(record(entry), index(child(path, "tls"), i)));
  });
  if (typeof spec.ingressClassName === "string") {
    const className = spec.ingressClassName;
    for (const msg of isDNS1123Subdomain(className)) {
      errors.push(invalid(child(path, "ingressClassName"), className, msg));
    }
  }
  return errors;
}

function validateRule(rule: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const host = typeof rule.host === "string" ? rule.host : "";
  const hostPath = child(path, "host");
  if (host !== "") {
    if (isIP(host) !== 0) {
      errors.push(invalid(hostPath, host, "must be a DNS name, not an IP address"));
    }
    const messages = host.includes("*")
      ? isWildcardDNS1123Subdomain(host)
      : isDNS1123Subdomain(host);
    for (const msg of messages) errors.push(invalid(hostPath, host, msg));
  }
  if (isSet(rule.http)) {
    const httpPath = child(path, "http");
    const paths = record(rule.http).paths;
    const list = Array.isArray(paths) ? paths : [];
    if (list.length === 0) errors.push(required(child(httpPath, "paths")));
    list.forEach((entry, i) => {
      errors.push(...validatePath(record(entry), index(child(httpPath, "paths"), i)));
    });
  }
  return errors;
}

/** validateHTTPIngressPath. */
function validatePath(entry: JsonObject, path: string): FieldError[] {
  const pathType = entry.pathType;
  if (typeof pathType !== "string") {
    // The API server stops here: the backend of such a path is not checked.
    return [required(child(path, "pathType"), "pathType must be specified")];
  }
  const errors: FieldError[] = [];
  const value = typeof entry.path === "string" ? entry.path : "";
  const at = child(path, "path");
  switch (pathType) {
    case "Exact":
    case "Prefix":
      if (!value.startsWith("/")) errors.push(invalid(at, value, "must be an absolute path"));
      if (value.length > 0) {
        for (const sequence of INVALID_PATH_SEQUENCES) {
          if (value.includes(sequence))
            errors.push(invalid(at, value, `must not contain '${sequence}'`));
        }
        for (const suffix of INVALID_PATH_SUFFIXES) {
          if (value.endsWith(suffix))
            errors.push(invalid(at, value, `cannot end with '${suffix}'`));
        }
      }
      break;
    case "ImplementationSpecific":
      // Anything goes, as long as a non-empty path is absolute.
      if (value.length > 0 && !value.startsWith("/")) {
        errors.push(invalid(at, value, "must be an absolute path"));
      }
      break;
    default:
      errors.push(notSupported(child(path, "pathType"), pathType, SUPPORTED_PATH_TYPES));
  }
  errors.push(...validateBackend(record(entry.backend), child(path, "backend")));
  return errors;
}

/** validateIngressBackend: exactly one of service and resource; a service needs a name and one port. */
function validateBackend(backend: JsonObject, path: string): FieldError[] {
  const hasResource = isSet(backend.resource);
  const hasService = isSet(backend.service);
  if (hasResource && hasService) {
    return [invalid(path, "", "cannot set both resource and service backends")];
  }
  if (hasResource) return validateResourceRef(record(backend.resource), child(path, "resource"));
  if (!hasService) return [invalid(path, "", "resource or service backend is required")];

  const errors: FieldError[] = [];
  const service = record(backend.service);
  const namePath = child(child(path, "service"), "name");
  const name = typeof service.name === "string" ? service.name : "";
  // RelaxedServiceNameValidation (beta, on by default since 1.36): NameIsDNSLabel, an RFC 1123
  // label, rather than ValidateServiceName's DNS-1035 label; "1web" is accepted.
  if (name === "") errors.push(required(namePath));
  else for (const msg of isDNS1123Label(name)) errors.push(invalid(namePath, name, msg));

  const port = record(service.port);
  const portPath = child(child(path, "service"), "port");
  const portName = typeof port.name === "string" ? port.name : "";
  const portNumber = typeof port.number === "number" ? port.number : 0;
  if (portName !== "" && portNumber !== 0) {
    errors.push(invalid(path, "", "cannot set both port name & port number"));
  } else if (portName !== "") {
    for (const msg of isValidPortName(portName))
      errors.push(invalid(child(portPath, "name"), portName, msg));
  } else if (portNumber !== 0) {
    for (const msg of isValidPortNum(portNumber)) {
      errors.push(invalid(child(portPath, "number"), portNumber, msg));
    }
  } else {
    errors.push(required(path, "port name or number is required"));
  }
  return errors;
}

/** validateIngressTypedLocalObjectReference. */
function validateResourceRef(ref: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  if (typeof ref.apiGroup === "string") {
    for (const msg of isDNS1123Subdomain(ref.apiGroup)) {
      errors.push(invalid(child(path, "apiGroup"), ref.apiGroup, msg));
    }
  }
  for (const key of ["kind", "name"] as const) {
    const value = typeof ref[key] === "string" ? ref[key] : "";
    if (value === "") errors.push(required(child(path, key), `${key} is required`));
    else
      for (const msg of isValidPathSegmentName(value))
        errors.push(invalid(child(path, key), value, msg));
  }
  return errors;
}

/** validateIngressTLS: hosts (wildcards allowed) and the Secret's name. */
function validateTLS(entry: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const hosts = Array.isArray(entry.hosts) ? entry.hosts : [];
  hosts.forEach((host, i) => {
    if (typeof host !== "string") return;
    const messages = host.includes("*")
      ? isWildcardDNS1123Subdomain(host)
      : isDNS1123Subdomain(host);
    for (const msg of messages) errors.push(invalid(index(child(path, "hosts"), i), host, msg));
  });
  const secretName = typeof entry.secretName === "string" ? entry.secretName : "";
  if (secretName !== "") {
    for (const msg of isDNS1123Subdomain(secretName)) {
      errors.push(invalid(child(path, "secretName"), secretName, msg));
    }
  }
  return errors;
}

/** A Go pointer or struct the JSON set (null and absent are both nil). */
function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function record(value: unknown): JsonObject {
  return isJsonObject(value) ? value : {};
}
