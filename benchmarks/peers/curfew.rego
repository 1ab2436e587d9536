# The peer's rule: minors may not play from 22:00 to 08:00 Beijing time (PRC Law on the Protection of
# Minors, Art. 75; NPPA notices), written as an operator would for OPA with the opa-envoy plugin
# (ext_authz gRPC). The age comes from the same signed token minorguard reads (HS256, the demo key,
# issuer and audience checked, `birthdate` claim). data.bench.clock_offset_ns moves the clock to the
# instant every checker of the benchmark runs at (minorguard's sidecar gets the same with --start-at).
package envoy.authz

default allow := false

zone := "Asia/Shanghai"

now := time.now_ns() + data.bench.clock_offset_ns

token := substring(auth, 7, -1) if {
	auth := input.attributes.request.http.headers.authorization
	startswith(auth, "Bearer ")
}

claims := payload if {
	constraints := {"secret": data.bench.secret, "iss": data.bench.issuer, "aud": data.bench.audience, "time": now}
	[valid, _, payload] := io.jwt.decode_verify(token, constraints)
	valid
}

today := time.date([now, zone])

born := [to_number(part) | some part in split(claims.birthdate, "-")]

had_birthday if today[1] > born[1]

had_birthday if {
	today[1] == born[1]
	today[2] >= born[2]
}

age := today[0] - born[0] if had_birthday
else := (today[0] - born[0]) - 1

curfew if time.clock([now, zone])[0] >= 22

curfew if time.clock([now, zone])[0] < 8

allow if age >= 18

allow if {
	age < 18
	not curfew
}
