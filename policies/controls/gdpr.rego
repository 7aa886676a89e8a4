package mlgate.controls.gdpr

findings := set()
