package mlgate.controls.highrisk

findings := set()
