"""Image transforms on small synthetic images, against interpolate and torchvision's luma weights."""

import pytest
import torch
import torch.nn.functional as F

from frl import envs
from frl.envs import CatFrames, GrayScale, Resize, ToTensorImage, TransformedEnv
from tests.envs.transforms._envs import ImageEnv


def _pipeline():
    return TransformedEnv(ImageEnv(), [ToTensorImage(in_keys=["observation"]),
                                       Resize(3, 5, in_keys=["observation"]),
                                       GrayScale(in_keys=["observation"]),
                                       CatFrames(2, dim=-3)])


def test_to_tensor_image_exact():
    env = TransformedEnv(ImageEnv(), ToTensorImage(in_keys=["observation"]))
    raw = ImageEnv().reset(seed=0, batch_size=(2,))["observation"]        # [2, 4, 6, 3] uint8
    td = env.reset(seed=0, batch_size=(2,))
    x = td["observation"]
    assert x.shape == (2, 3, 4, 6) and x.dtype == torch.float32
    for c in range(3):
        for h in range(4):
            for w in range(6):
                assert torch.equal(x[:, c, h, w], raw[:, h, w, c].float() / 255)
    spec = env.observation_spec
    assert isinstance(spec, envs.Bounded)
    assert spec.shape == (3, 4, 6) and float(spec.low.min()) == 0 and float(spec.high.max()) == 1


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_resize_matches_interpolate(mode):
    x = torch.linspace(0, 1, 2 * 3 * 5 * 7).reshape(2, 3, 5, 7) ** 2
    t = Resize(4, 9, interpolation=mode)
    kw = {"align_corners": False} if mode != "nearest" else {}
    want = F.interpolate(x, size=(4, 9), mode=mode, **kw)
    torch.testing.assert_close(t._apply(x, "pixels"), want)
    # Leading batch dims are flattened and restored.
    torch.testing.assert_close(t._apply(x.reshape(1, 2, 3, 5, 7), "pixels"), want.reshape(1, 2, 3, 4, 9))


def test_grayscale_uses_itu_r_601_weights():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    y = GrayScale()._apply(x, "pixels")
    assert y.shape == (2, 1, 4, 5)
    torch.testing.assert_close(y[:, 0], 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])


def test_image_pipeline_through_the_env():
    env = _pipeline()
    td = env.reset(seed=0, batch_size=(2,))
    raw = ImageEnv().reset(seed=0, batch_size=(2,))["observation"]
    img = raw.permute(0, 3, 1, 2).float() / 255
    small = F.interpolate(img, size=(3, 5), mode="bilinear", align_corners=False)
    gray = (0.2989 * small[:, 0] + 0.587 * small[:, 1] + 0.114 * small[:, 2]).unsqueeze(1)
    torch.testing.assert_close(td["observation"], torch.cat([gray, gray], dim=1))
    assert env.observation_spec.shape == (2, 3, 5)
    envs.check_env(env, steps=5)


def test_image_errors():
    with pytest.raises(TypeError, match=r"frl.envs.Resize: 'observation' has dtype torch.uint8, expected a floating"):
        TransformedEnv(ImageEnv(), Resize(2, in_keys=["observation"])).reset(seed=0, batch_size=(1,))
    with pytest.raises(ValueError, match=r"frl.envs.GrayScale: 'pixels' has shape \[2, 4, 5, 5\], expected an RGB"):
        GrayScale()._apply(torch.zeros(2, 4, 5, 5), "pixels")
    with pytest.raises(ValueError, match=r"frl.envs.GrayScale: the spec of 'observation' has shape \[4, 6, 3\]"):
        _ = TransformedEnv(ImageEnv(), GrayScale(in_keys=["observation"])).observation_spec
