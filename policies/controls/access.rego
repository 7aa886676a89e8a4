package mlgate.controls.access

findings := set()
