package mlgate.controls.tiering

findings := set()
