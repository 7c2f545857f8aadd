# Re-encodes every 2-D F16 tensor of a GGUF file as Q8_0 with the gguf package's numpy quantizer
# (the dense Q8_0 baseline of the sparse speed comparison; jisu's own Q8_0 quantizer searches
# scales and is slow on a loaded 2-core machine).
import sys, numpy as np, gguf
from gguf.quants import quantize
r = gguf.GGUFReader(sys.argv[1])
arch = r.fields["general.architecture"].contents()
w = gguf.GGUFWriter(sys.argv[2], arch)
for field in r.fields.values():
    if field.name in ("general.architecture", "general.file_type") or field.name.startswith("GGUF."):
        continue
    vt = field.types[0]
    w.add_key_value(field.name, field.contents(), vt, sub_type=field.types[-1] if vt == gguf.GGUFValueType.ARRAY else None)
w.add_file_type(7)  # MOSTLY_Q8_0
for t in r.tensors:
    data = np.asarray(t.data)
    if len(t.shape) >= 2:
        w.add_tensor(t.name, quantize(data.astype(np.float32), gguf.GGMLQuantizationType.Q8_0), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        w.add_tensor(t.name, data)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
