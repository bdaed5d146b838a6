"""Project teams: /qi-join, /qi-leave, /qi-projects, /qi-project and the register import."""
