"""Build a tiny random-weight Wan 2.1 VACE pipeline on disk, offline, for the local backend's tests.

The pipeline has the real classes of ``Wan-AI/Wan2.1-VACE-*-diffusers`` (``WanVACETransformer3DModel``,
``AutoencoderKLWan``, ``UMT5EncoderModel``, ``UniPCMultistepScheduler`` in flow mode, a fast tokenizer)
with a few thousand parameters each, saved with ``save_pretrained`` so the backend loads it through the
same ``from_pretrained`` code path a downloaded checkpoint takes. It is built at test time, never
committed: the tokenizer class transformers writes differs between transformers 4 and 5.

Sizes that work with it: width and height multiples of 16 (VAE stride 8 x patch 2), frames 4k+1.
"""

from __future__ import annotations

from pathlib import Path

# A few sentences are enough for a word-level vocabulary; unknown words map to <unk>, which is fine
# for random weights: what matters is that tokenizing and encoding run the real code.
_CORPUS = [
    "a young woman with a silver buzz cut laces up a white sneaker on a rooftop at dawn",
    "she sprints to the ledge and leaps across the gap between two rooftops",
    "close-up, soft dawn light, 35mm film, orange windbreaker, city skyline",
    "a small blue bird takes off from the ground flapping its wings",
    "the camera follows the runner, slow motion, wide shot, night, rain",
]


def _tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(_CORPUS, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    # UMT5 appends </s> to every prompt; keep that shape so sequence lengths behave like the real one.
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def build_tiny_wan(dest: Path) -> Path:
    """Create a tiny ``WanVACEPipeline`` with seeded random weights in ``dest``; return ``dest``.

    Deterministic: the same call builds the same weights, so outputs can be compared across runs.
    """
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanVACEPipeline,
        WanVACETransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = _tokenizer()
    text_dim = 32

    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=text_dim,
            d_kv=8,
            d_ff=32,
            num_layers=1,
            num_heads=2,
            relative_attention_num_buckets=8,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )

    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )

    torch.manual_seed(0)
    # vace_in_channels = 2 x z_dim (inactive + reactive latents) + 8 x 8 mask channels.
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=text_dim,
        freq_dim=256,
        ffn_dim=32,
        num_layers=3,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        vace_layers=[0, 2],
        vace_in_channels=96,
    )

    # The scheduler the published Wan 2.1 diffusers checkpoints ship (flow-matching UniPC).
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )

    pipe = WanVACEPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
    )
    dest = Path(dest)
    pipe.save_pretrained(dest)
    return dest
