package mlgate.controls.schema

findings := set()
