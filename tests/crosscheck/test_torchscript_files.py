"""TorchScript archives (issue 22, item 5): read through torch.jit.load(...).state_dict(), never
torch.load of a pickle; refused in one line naming the fix where torch is missing, where the
archive's code would run on load (``__setstate__``), and for pickled models.

Archives are written at test time with torch.jit.script / torch.jit.trace and torch.jit.save.
"""

import sys
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from lstmcalc import forward  # noqa: E402
from lstmcalc.cli import app  # noqa: E402
from lstmcalc.errors import FileError  # noqa: E402
from lstmcalc.readers import read_layer, read_layers  # noqa: E402

runner = CliRunner()
FIX = "torch.jit.load(path).state_dict(), then torch.save(state_dict, 'weights.pt') or safetensors.torch.save_file"


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.LSTM(3, 4, batch_first=True, num_layers=2, bidirectional=True)
        self.decoder = torch.nn.GRU(8, 5, batch_first=True)
        self.head = torch.nn.Linear(5, 2)

    def forward(self, x):
        y, _ = self.encoder(x)
        y, _ = self.decoder(y)
        return self.head(y)


def randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=gen, dtype=p.dtype) * 1.6 - 0.8)  # every gate its own values
    return module


@pytest.mark.parametrize("how", ["script", "trace"])
def test_a_torchscript_archive_is_read_and_runs_as_its_layers(tmp_path, how):
    model = randomise(Model().double(), 1).eval()
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    saved = torch.jit.script(model) if how == "script" else torch.jit.trace(model, x)
    path = tmp_path / "model.pt"
    torch.jit.save(saved, str(path))
    names = zipfile.ZipFile(path).namelist()
    assert any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names)
    encoder, decoder = read_layers(path)
    assert (encoder.name, encoder.spec.cell, encoder.spec.layers, encoder.spec.bidirectional) == ("encoder", "lstm", 2, True)
    assert (decoder.name, decoder.spec.cell, decoder.spec.units) == ("decoder", "gru", 5)
    assert encoder.total == sum(p.numel() for p in model.encoder.parameters())
    loaded = torch.jit.load(str(path))
    with torch.no_grad():
        mid, (h_n, c_n) = model.encoder(x)
        want, _ = model.decoder(mid)
    got = forward(x.numpy(), encoder.weights, framework="torch", bidirectional=True, layers=2)
    np.testing.assert_allclose(got.output, mid.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.h, h_n.numpy(), rtol=0, atol=1e-12)
    got = forward(mid.numpy(), decoder.weights, cell="gru", framework="torch")
    np.testing.assert_allclose(got.output, want.numpy(), rtol=0, atol=1e-12)
    with torch.no_grad():  # the archive's own forward, to the head
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=0, atol=1e-12)


def test_convert_and_inspect_a_scripted_lstm(tmp_path):
    lstm = randomise(torch.nn.LSTM(3, 4, batch_first=True), 3)
    path = tmp_path / "lstm.jit"
    torch.jit.save(torch.jit.script(lstm), str(path))
    shown = runner.invoke(app, ["inspect", str(path), "--json"])
    assert shown.exit_code == 0, shown.stderr
    [layer] = __import__("json").loads(shown.stdout)["layers"]
    assert (layer["framework"], layer["cell"], layer["total"]) == ("torch", "lstm", 4 * 4 * (3 + 4) + 2 * 4 * 4)
    out = tmp_path / "k.npz"
    result = runner.invoke(app, ["convert", str(path), "--to", "keras", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    x = np.random.default_rng(4).normal(size=(2, 5, 3))
    with np.load(out) as f:
        got = forward(x, dict(f), return_sequences=True).output
    with torch.no_grad():
        want = lstm(torch.tensor(x, dtype=torch.float32))[0].numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_a_scripted_module_with_cells(tmp_path):
    class Cells(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = torch.nn.LSTMCell(3, 4)

        def forward(self, x, h, c):
            return self.cell(x, (h, c))

    module = randomise(Cells(), 5)
    torch.jit.save(torch.jit.script(module), str(tmp_path / "c.pt"))
    found = read_layer(tmp_path / "c.pt")
    assert found.spec.framework == "torch_cell" and found.total == 4 * 4 * (3 + 4) + 2 * 4 * 4


def test_without_torch_a_torchscript_archive_is_refused_naming_the_fix(tmp_path, monkeypatch):
    torch.jit.save(torch.jit.script(torch.nn.GRU(2, 3)), str(tmp_path / "g.pt"))
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails, as where it is not installed
    with pytest.raises(FileError) as e:
        read_layers(tmp_path / "g.pt")
    message = str(e.value)
    assert "a TorchScript archive; reading its tensors needs torch (pip install torch)" in message and FIX in message
    assert "\n" not in message


def test_code_that_would_run_on_load_is_refused(tmp_path):
    torch.jit.save(torch.jit.script(torch.nn.GRU(2, 3)), str(tmp_path / "g.pt"))
    with zipfile.ZipFile(tmp_path / "g.pt") as z:
        members = {n: z.read(n) for n in z.namelist()}
    code = next(n for n in members if "/code/" in n and n.endswith(".py"))
    members[code] += b"\n  def __setstate__(self, state: Tuple[int]) -> None:\n    pass\n"
    with zipfile.ZipFile(tmp_path / "h.pt", "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    result = runner.invoke(app, ["inspect", str(tmp_path / "h.pt")])
    assert result.exit_code == 1 and result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert f"whose {code} defines __setstate__" in result.stderr and "torch.jit.load(path).state_dict()" in result.stderr


def test_a_pickled_model_is_refused_naming_the_fix(tmp_path):
    torch.save(torch.nn.LSTM(2, 3), tmp_path / "module.pt")
    result = runner.invoke(app, ["inspect", str(tmp_path / "module.pt")])
    assert result.exit_code == 1 and result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert "holds a pickled Python object" in result.stderr and "never unpickles" in result.stderr
    assert "torch.load(path, weights_only=False).state_dict(), then torch.save(state_dict" in result.stderr
