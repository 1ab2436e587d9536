# Reference, not a rule: OPA-envoy answering every check with allow, the floor of a Rego check behind
# ext_authz gRPC (the request still goes Envoy -> gRPC -> OPA's evaluation -> Envoy).
package envoy.authz

default allow := true
