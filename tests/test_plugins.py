"""Discovery, order and start-up failures: one clear message naming the plugin."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from commerce_kernel import Kernel, PluginError
from commerce_kernel.plugins import load_plugins
from commerce_kernel.settings import Settings


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """Install fake plugin distributions (dist-info + module) into a directory on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def install(name: str, source: str, *, dist: str | None = None) -> None:
        dist = dist or f"fake-{name}"
        module = f"fake_{name}_{tmp_path.name[-8:]}".replace("-", "_")
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[commerce_kernel.plugins]\n{name} = {module}\n")
        made.append(module)

    yield install
    for module in made:
        sys.modules.pop(module, None)


def plugin_src(name: str, requires: tuple[str, ...] = (), body: str = "", kernel: str = "") -> str:
    return (
        "from commerce_kernel import Plugin, hookimpl\n"
        f"plugin = Plugin(name={name!r}, version='1.2.3', requires={requires!r}, kernel={kernel!r})\n"
        + textwrap.dedent(body)
    )


def kernel_for(names: list[str]) -> Kernel:
    return Kernel(
        Settings(secret_key="x" * 32, database_url="sqlite:///:memory:"), load_plugins(names)
    )


def test_plugins_start_after_what_they_require(fake_site):
    fake_site("zeta", plugin_src("zeta"))
    fake_site("alpha", plugin_src("alpha", ("zeta",)))
    order = [p.info.name for p in load_plugins(["alpha", "zeta"])]
    assert order == ["kernel", "zeta", "alpha"]


def test_missing_requirement_names_the_plugin(fake_site):
    fake_site("alpha", plugin_src("alpha", ("payments",)))
    with pytest.raises(
        PluginError, match="plugin 'alpha' requires plugin 'payments', which is not installed"
    ):
        load_plugins(["alpha"])


def test_disabled_requirement_is_reported_as_disabled(fake_site):
    fake_site("base", plugin_src("base"))
    fake_site("top", plugin_src("top", ("base",)))
    with pytest.raises(PluginError, match="plugin 'top' requires plugin 'base', which is disabled"):
        load_plugins(["top", "base"], disabled=["base"])


def test_circular_requirements_are_refused(fake_site):
    fake_site("egg", plugin_src("egg", ("hen",)))
    fake_site("hen", plugin_src("hen", ("egg",)))
    with pytest.raises(
        PluginError, match=r"require each other in a circle: (egg -> hen -> egg|hen -> egg -> hen)"
    ):
        load_plugins(["egg", "hen"])


def test_import_failure_names_the_plugin_and_distribution(fake_site):
    fake_site("broken", "raise ImportError('no module named shiny')\n", dist="commerce-broken")
    with pytest.raises(
        PluginError,
        match=r"plugin 'broken' \(commerce-broken\) failed to import: ImportError: no module named shiny",
    ):
        load_plugins(["broken"])


def test_hook_with_wrong_signature_is_refused(fake_site):
    fake_site(
        "sloppy",
        plugin_src(
            "sloppy",
            body="""
        @hookimpl
        def routes(kernel, colour):
            return []
    """,
        ),
    )
    with pytest.raises(PluginError, match=r"plugin 'sloppy'.*colour"):
        kernel_for(["sloppy"])


def test_implementation_of_unknown_hook_is_refused(fake_site):
    fake_site(
        "typo",
        plugin_src(
            "typo",
            body="""
        @hookimpl
        def rootes(kernel):
            return []
    """,
        ),
    )
    with pytest.raises(PluginError, match=r"plugin 'typo'.*rootes"):
        kernel_for(["typo"])


def test_kernel_version_mismatch_is_refused(fake_site):
    fake_site("future", plugin_src("future", kernel=">=9.0"))
    with pytest.raises(
        PluginError,
        match=r"plugin 'future' 1\.2\.3 works with commerce-kernel >=9.0, but 0.1.0 is installed",
    ):
        load_plugins(["future"])


def test_enable_list_and_disable_list(fake_site):
    fake_site("one", plugin_src("one"))
    fake_site("two", plugin_src("two"))
    assert [p.info.name for p in load_plugins(["one"])] == ["kernel", "one"]
    names = [p.info.name for p in load_plugins(None, disabled=["one"])]
    assert "two" in names and "one" not in names
    with pytest.raises(PluginError, match="COMMERCE_PLUGINS names nope, which is not installed"):
        load_plugins(["nope"])


def test_invalid_settings_section_stops_start_up_naming_the_plugin(fake_site, monkeypatch):
    fake_site(
        "picky",
        plugin_src(
            "picky",
            body="""
        from commerce_kernel.settings import SectionSettings

        class PickySettings(SectionSettings):
            level: int = 1

        @hookimpl
        def settings_section():
            return [PickySettings]
    """,
        ),
    )
    monkeypatch.setenv("PICKY_LEVEL", "very")
    with pytest.raises(PluginError, match=r"plugin 'picky': invalid settings \(PICKY_LEVEL: "):
        kernel_for(["picky"])
    monkeypatch.setenv("PICKY_LEVEL", "3")
    kernel = kernel_for(["picky"])
    (section,) = kernel.sections.values()
    assert kernel.section(type(section)).level == 3


def test_settings_prefix_is_the_plugin_name_unless_the_section_chooses_one(fake_site, monkeypatch):
    fake_site(
        "shop_extra",
        plugin_src(
            "shop_extra",
            body="""
        from pydantic import Field
        from commerce_kernel import SectionSettings

        class Derived(SectionSettings):
            level: int = 1

        class Chosen(SectionSettings):
            env_prefix = "EXTRA_"
            level: int = 1
            legacy: int = Field(1, validation_alias="OLD_NAME")

        @hookimpl
        def settings_section():
            return [Derived, Chosen]
    """,
        ),
    )
    monkeypatch.setenv("LEVEL", "9")  # a bare name belongs to nobody's section
    monkeypatch.setenv("SHOP_EXTRA_LEVEL", "2")
    monkeypatch.setenv("EXTRA_LEVEL", "3")
    monkeypatch.setenv("OLD_NAME", "4")
    kernel = kernel_for(["shop_extra"])
    derived, chosen = kernel.sections.values()
    assert kernel.section(type(derived)).level == 2
    assert kernel.section(type(chosen)).level == 3
    assert kernel.section(type(chosen)).legacy == 4
    overridden = Kernel(
        kernel.settings, kernel.plugins, overrides={"SHOP_EXTRA_LEVEL": "5", "OLD_NAME": "6"}
    )
    assert overridden.section(type(derived)).level == 5
    assert overridden.section(type(chosen)).legacy == 6


def test_a_section_that_is_not_a_settings_class_is_refused(fake_site):
    fake_site(
        "old",
        plugin_src(
            "old",
            body="""
        @hookimpl
        def settings_section():
            return ("old", dict)
    """,
        ),
    )
    with pytest.raises(PluginError, match="plugin 'old': settings_section must return a Section"):
        kernel_for(["old"])


def test_an_entry_point_naming_a_package_is_refused(fake_site, tmp_path):
    package = tmp_path / "fake_pkgplugin"
    package.mkdir()
    (package / "__init__.py").write_text(plugin_src("pkgplugin"))
    info = tmp_path / "fake_pkgplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-pkgplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[commerce_kernel.plugins]\npkgplugin = fake_pkgplugin\n"
    )
    with pytest.raises(
        PluginError,
        match=r"the entry point must name the plugin module \(e\.g\. fake_pkgplugin\.plugin\)",
    ):
        load_plugins(["pkgplugin"])


def test_another_plugins_hook_needs_requires_or_optionalhook(fake_site):
    fake_site(
        "listener",
        plugin_src(
            "listener",
            body="""
        @hookimpl
        def order_placed(kernel, order):
            pass
    """,
        ),
    )
    fake_site(
        "polite",
        plugin_src(
            "polite",
            body="""
        @hookimpl(optionalhook=True)
        def order_placed(kernel, order):
            pass
    """,
        ),
    )
    with pytest.raises(PluginError, match=r"plugin 'listener'.*unknown hook 'order_placed'"):
        kernel_for(["listener"])
    assert kernel_for(["polite"]).plugin_names == ["kernel", "polite"]


def test_cli_reports_a_broken_plugin_in_one_line(fake_site, tmp_path):
    fake_site("broken", "raise RuntimeError('boom at import')\n", dist="commerce-broken")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("commerce")), "plugins"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "COMMERCE_PLUGINS": "broken"},
    )
    assert result.returncode == 2, result
    assert result.stderr.strip() == (
        "error: plugin 'broken' (commerce-broken) failed to import: RuntimeError: boom at import"
    )
