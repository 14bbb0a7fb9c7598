"""The warm probe process: one child that describes models, previews datasets and checks run
configurations for the wizard and the CLI's light commands (`server`, the child; `client`, the
parent's side; `cache`, model descriptions kept on disk). The parent never imports the training stack."""
