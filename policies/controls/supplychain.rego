# Supply chain: signed, trusted, digest-pinned models (AI Act Art. 15(5); SLSA).
package mlgate.controls.supplychain

import data.mlgate.lib

findings contains lib.finding("SC-SIGNED", msg, "/signature") if {
	not input.signature.present
	msg := "model is not signed: no mlgate.io/signature or mlgate.io/signature-ref on the object"
}

findings contains lib.finding("SC-SIGNED", msg, "/signature") if {
	input.signature.present
	not input.signature.verified
	msg := sprintf("model signature does not verify: %v", [object.get(input.signature, "error", "unknown error")])
}
