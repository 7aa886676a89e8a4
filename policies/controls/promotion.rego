package mlgate.controls.promotion

findings := set()
