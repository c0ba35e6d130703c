"""PyInstaller hook for gradio: its built frontend (templates/), its JSON/JS data, and
its modules as .py source (gradio reads the source of its components at run time)."""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

datas = collect_data_files("gradio") + copy_metadata("gradio")
hiddenimports = collect_submodules("gradio", filter=lambda name: ".test" not in name)
module_collection_mode = "py"
