

def test_a_vendor_fix_rewrites_both_sides_of_a_replace_in_go_mod_and_modules_txt() -> None:
    from kubeward.artifacts.build import rewrite_module_version

    modules = ("# github.com/modern-go/reflect2 v1.0.1 => github.com/modern-go/reflect2 v1.0.1\n"
               "github.com/modern-go/reflect2\n# github.com/modern-go/reflect2x v1.0.1\n")
    out = rewrite_module_version(modules, "github.com/modern-go/reflect2", "v1.0.1", "v1.0.2")
    assert out.splitlines()[0] == ("# github.com/modern-go/reflect2 v1.0.2 => github.com/modern-go/reflect2 v1.0.2")
    assert "reflect2x v1.0.1" in out  # another module of a similar name is left alone
    gomod = "require (\n\tgithub.com/modern-go/reflect2 v1.0.1 // indirect\n)\n"
    assert "reflect2 v1.0.2 // indirect" in rewrite_module_version(gomod, "github.com/modern-go/reflect2", "v1.0.1",
                                                                    "v1.0.2")


def test_a_vendor_fix_whose_module_version_is_gone_stops_the_build() -> None:
    import pytest

    from kubeward.artifacts.build import rewrite_module_version
    from kubeward.errors import ArtifactError

    with pytest.raises(ArtifactError, match="VENDOR_FIXES"):
        rewrite_module_version("# github.com/modern-go/reflect2 v1.0.2\n", "github.com/modern-go/reflect2",
                               "v1.0.1", "v1.0.2")


def test_the_cache_key_changes_with_the_vendor_fixes() -> None:
    from kubeward.artifacts.build import render_cache_key

    base = render_cache_key("1.20.2", "1.20.5+really1.20.2-1", ["a"], "amd64")
    fixed = render_cache_key("1.20.2", "1.20.5+really1.20.2-1", ["a"], "amd64",
                             fixes=["github.com/modern-go/reflect2@v1.0.2=1.0.2-2"])
    assert base != fixed and fixed.startswith("1.20.2-")
