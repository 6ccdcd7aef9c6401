"""Loss per question kind on the current checkpoint with the right pictures vs each picture swapped
for another one of the batch: how much each kind of answer uses the picture."""
import sys
import torch
import common
from tokenizers import Tokenizer
torch.set_num_threads(1)
tok = Tokenizer.from_file(str(common.WORK / "tokenizer.json"))
ids = common.token_ids(tok)
model = common.build_model(tok.get_vocab_size(), ids)
model.load_state_dict(torch.load(sys.argv[1] if len(sys.argv) > 1 else common.WORK / "ckpt.pt", weights_only=False)["model"])
model.eval()
SCALE = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
KINDS = sys.argv[3].split(",") if len(sys.argv) > 3 else ["colour", "shape", "count", "count_kind", "position", "read"]
for shapes in (1, 5):
    for kind in KINDS:
        with torch.no_grad():
            b = common.make_batch(tok, ids, 4242, 24, max_turns=1, max_shapes=shapes, scale=SCALE, weights={kind: 1, "count": 0.05})
            right = model(**b).loss.item()
            n = b["pixel_values"].shape[0] // 24
            b["pixel_values"] = b["pixel_values"].view(24, n, -1).roll(1, 0).reshape(24 * n, -1)
            swapped = model(**b).loss.item()
        print(f"max_shapes {shapes} {kind:10s} right {right:.3f} swapped {swapped:.3f}", flush=True)
