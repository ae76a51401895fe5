// The result types of offline admission, shared by the policy and Ingress admitters.

/** One reason the API server would refuse an object. */
export interface AdmissionError {
  /**
   * JSON path of the field, as the API server names it: "spec.tls.mode",
   * "spec.backendSplits[0].backends[1].weight". "" when the error concerns no one field (the API
   * server prints "<nil>").
   */
  field: string;
  /**
   * The full line, exactly as the API server prints it, e.g.
   * 'spec.tls.mode: Unsupported value: "Foo": supported values: "Terminate", "Reencrypt", "Passthrough"'.
   * An unknown field reads `unknown field "spec.foo"`: with kubectl's default strict field
   * validation the API server refuses the request with only those lines, before validating.
   */
  message: string;
}

/** What admission made of an object. */
export interface AdmissionResult<T> {
  /** A deep copy of the input with the schema's defaults applied; the input is never mutated. */
  object: T;
  /** Every reason the API server would refuse the object; empty when it would accept it. */
  errors: AdmissionError[];
}
